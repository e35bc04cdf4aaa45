// SPDX-License-Identifier: Apache-2.0
// How a user id becomes a bucket. xxh3 mode: XXH3_64(id, seed = salt) % 10000, compared with the
// share in basis points. md5 mode reproduces the Python service this replaces, bit for bit:
// int(hashlib.md5(uid.encode()).hexdigest(), 16) % 100.
#pragma once

#include <cstdint>
#include <string_view>

#include "canary/detail/xxhash.hpp"

namespace canary {

inline constexpr std::uint32_t kXxh3Buckets = 10000;
inline constexpr std::uint32_t kMd5Buckets = 100;

inline std::uint64_t user_hash(std::string_view user_id, std::uint64_t salt) noexcept {
  return XXH3_64bits_withSeed(user_id.data(), user_id.size(), salt);
}

inline std::uint32_t xxh3_bucket(std::uint64_t hash) noexcept { return static_cast<std::uint32_t>(hash % kXxh3Buckets); }

// The 128-bit big-endian MD5 value modulo 100.
std::uint32_t md5_bucket(std::string_view user_id) noexcept;

}  // namespace canary
