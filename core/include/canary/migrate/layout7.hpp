// SPDX-License-Identifier: Apache-2.0
// The config of layout 7, the layout before experiments: what `canary-ctl migrate` reads. Layout
// 8 appended the experiment table and changed nothing before it, so layout 7's config is the first
// kLayout7ConfigBytes of today's, byte for byte; only the fields the two-copy protocol reads are
// named here. Frozen: never change it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "canary/layout.hpp"

namespace canary::layout7 {

inline constexpr std::uint32_t kLayoutVersion = 7;

struct ConfigData {
  std::uint64_t generation;
  std::uint64_t changed_unix_ns;
  std::uint64_t salt;
  std::uint64_t checksum;
  std::byte rest[kLayout7ConfigBytes - 32];
};
static_assert(sizeof(ConfigData) == 49232);
static_assert(offsetof(canary::ConfigData, checksum) == offsetof(ConfigData, checksum));
static_assert(offsetof(canary::ConfigData, reserved2) == sizeof(ConfigData));

using ConfigBlock = TwoCopyBlock<ConfigData>;
static_assert(sizeof(ConfigBlock) == 98656);

}  // namespace canary::layout7
