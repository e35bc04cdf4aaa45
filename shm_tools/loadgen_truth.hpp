// SPDX-License-Identifier: Apache-2.0
// What a loadgen worker recorded, counted on its side: the ground truth the slabs must match.
#pragma once

#include <cstdint>

#include "canary/slab.hpp"
#include "canary/types.hpp"

namespace canary::tools {

struct GroundTruth {
  Counts by_version[kMaxVersions];
  std::uint64_t ring_full_drops = 0;
  std::uint64_t had_no_ring = 0;  // workers that never got a ring
  std::uint64_t exposures = 0;    // --experiment: exposures and conversion events recorded
  std::uint64_t conversions = 0;

  void add(Version v, Method m, std::uint32_t status_code, std::uint64_t latency_us) {
    Counts& c = by_version[static_cast<std::uint32_t>(v)];
    ++c.requests[static_cast<std::uint32_t>(m)][static_cast<std::uint32_t>(classify_status(status_code))];
    if (status_code >= 502 && status_code <= 504) ++c.unavailable_502_504;
    c.latency_sum_us += latency_us;
  }
  GroundTruth& operator+=(const GroundTruth& o) {
    for (std::uint32_t v = 0; v < kMaxVersions; ++v) by_version[v] += o.by_version[v];
    ring_full_drops += o.ring_full_drops;
    had_no_ring += o.had_no_ring;
    exposures += o.exposures;
    conversions += o.conversions;
    return *this;
  }
};

}  // namespace canary::tools
