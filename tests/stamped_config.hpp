// Configs whose fields all derive from one number, so a reader can tell a torn mix of two configs
// from a whole one even beyond what the checksum says.
#pragma once

#include <string>

#include "canary/fixed_text.hpp"
#include "canary/layout.hpp"

namespace canary::testing {

inline void stamp(ConfigData& c, std::uint64_t k) {
  c.salt = k;
  c.share_bp = static_cast<std::uint32_t>(k % 10001);
  set_text(c.state_reason, "reason " + std::to_string(k));
  c.endpoints[1].canary = static_cast<std::uint8_t>(k % 2);
}

inline bool is_whole(const ConfigData& c) {
  return c.share_bp == c.salt % 10001 && text_of(c.state_reason) == "reason " + std::to_string(c.salt) &&
         c.endpoints[1].canary == c.salt % 2;
}

}  // namespace canary::testing
