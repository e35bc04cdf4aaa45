// SPDX-License-Identifier: Apache-2.0
#include "canary/bucket.hpp"

#include <openssl/md5.h>

namespace canary {

std::uint32_t md5_bucket(std::string_view user_id) noexcept {
  unsigned char digest[MD5_DIGEST_LENGTH];
  // The one-shot MD5() is deprecated in OpenSSL 3 but costs 147 ns against 814 ns for
  // EVP_Digest(EVP_md5()) per call (ANCHORS.md), and md5 mode hashes on every request.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(user_id.data()), user_id.size(), digest);
#pragma GCC diagnostic pop
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  for (int i = 0; i < 8; ++i) high = high << 8 | digest[i];
  for (int i = 8; i < 16; ++i) low = low << 8 | digest[i];
  // (high * 2^64 + low) mod 100, with 2^64 mod 100 = 16.
  return static_cast<std::uint32_t>(((high % kMd5Buckets) * 16 + low % kMd5Buckets) % kMd5Buckets);
}

}  // namespace canary
