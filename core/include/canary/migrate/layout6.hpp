// SPDX-License-Identifier: Apache-2.0
// The config of layout 6, the layout before versions: what `canary-ctl migrate` reads. Frozen:
// never change it (layout.hpp is the living one). Only the config is read; the header is the same
// in both layouts, and counts are not carried over.
#pragma once

#include <cstddef>
#include <cstdint>

#include "canary/layout.hpp"

namespace canary::layout6 {

inline constexpr std::uint32_t kLayoutVersion = 6;

struct EndpointEntry {
  char path[224];
  std::uint32_t path_len;
  std::uint8_t registered;
  std::uint8_t canary;  // the endpoint's canary flag
  std::uint16_t reserved0;
  std::uint64_t reserved[3];
};
static_assert(sizeof(EndpointEntry) == 256);

struct ConfigData {
  std::uint64_t generation;
  std::uint64_t changed_unix_ns;
  std::uint64_t salt;
  std::uint32_t share_bp;
  std::uint8_t enabled;
  std::uint8_t hash_mode;
  std::uint8_t state;
  std::uint8_t awaiting_approval;
  std::uint32_t endpoint_count;
  std::uint32_t override_count;
  std::uint64_t rollout_started_unix_ns;
  std::uint32_t ramp_step;
  std::uint32_t fail_safe_after_ms;
  std::uint64_t checksum;
  char changed_by[64];
  char state_reason[192];
  std::uint64_t step_started_unix_ns;
  std::uint8_t ramp_count;
  std::uint8_t require_approval;
  std::uint8_t srm_detected;
  std::uint8_t reserved1[5];
  std::uint16_t ramp_bp[kMaxRampSteps];
  std::uint64_t reserved2[2];
  OverrideEntry overrides[kMaxOverrides];  // unchanged in layout 7 (version 0 legacy, 1 canary)
  EndpointEntry endpoints[kMaxEndpoints];
};
static_assert(sizeof(ConfigData) == 37248);
static_assert(offsetof(ConfigData, checksum) == 56);
static_assert(offsetof(ConfigData, step_started_unix_ns) == 320);
static_assert(offsetof(ConfigData, ramp_bp) == 336);
static_assert(offsetof(ConfigData, overrides) == 384);
static_assert(offsetof(ConfigData, endpoints) == 4480);

using ConfigBlock = TwoCopyBlock<ConfigData>;
static_assert(sizeof(ConfigBlock) == 74688);

}  // namespace canary::layout6
