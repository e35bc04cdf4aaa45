// SPDX-License-Identifier: Apache-2.0
// The config of layout 8, the first with experiments: what `canary-ctl migrate` reads. Layout 9
// kept its size and every field but the end of each experiment: its reason was 120 bytes, and
// layout 9 took the last 8 for the experiment's drops at its start. Frozen: never change it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "canary/layout.hpp"

namespace canary::layout8 {

inline constexpr std::uint32_t kLayoutVersion = 8;

struct ExperimentEntry {
  std::byte before_reason[568];
  char reason[120];
};
static_assert(sizeof(ExperimentEntry) == sizeof(canary::ExperimentEntry));
static_assert(offsetof(canary::ExperimentEntry, reason) == offsetof(ExperimentEntry, reason));

struct ConfigData {
  std::uint64_t generation;
  std::uint64_t changed_unix_ns;
  std::uint64_t salt;
  std::uint64_t checksum;
  std::byte rest[kLayout7ConfigBytes + 8 - 32];
  ExperimentEntry experiments[kMaxExperiments];
};
static_assert(sizeof(ConfigData) == sizeof(canary::ConfigData));
static_assert(offsetof(canary::ConfigData, experiments) == offsetof(ConfigData, experiments));

using ConfigBlock = TwoCopyBlock<ConfigData>;

}  // namespace canary::layout8
