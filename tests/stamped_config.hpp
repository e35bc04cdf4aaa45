// SPDX-License-Identifier: Apache-2.0
// Configs whose fields all derive from one number, so a reader can tell a torn mix of two configs
// from a whole one even beyond what the checksum says.
#pragma once

#include <string>

#include "canary/fixed_text.hpp"
#include "canary/layout.hpp"
#include "canary/versions.hpp"

namespace canary::testing {

inline void stamp(ConfigData& c, std::uint64_t k) {
  c.salt = k;
  (void)allot_share(c, kFirstCandidate, static_cast<std::uint32_t>(k % 10001));
  set_text(c.versions[kFirstCandidate].state_reason, "reason " + std::to_string(k));
  set_endpoint_on(c.versions[kFirstCandidate], 1, k % 2 != 0);
}

inline bool is_whole(const ConfigData& c) {
  const VersionEntry& v = c.versions[kFirstCandidate];
  return v.share_bp == c.salt % 10001 && text_of(v.state_reason) == "reason " + std::to_string(c.salt) &&
         endpoint_on(v, 1) == (c.salt % 2 != 0) && allotment_problem(c) == nullptr;
}

}  // namespace canary::testing
