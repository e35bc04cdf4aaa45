// SPDX-License-Identifier: Apache-2.0
// One read-only look at a segment: what canary-shm-dump prints, as text or JSON. Taking it never
// writes to the segment, and every value that positions anything was validated on attach.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "canary/layout.hpp"
#include "canary/liveness.hpp"
#include "canary/ring.hpp"
#include "canary/segment.hpp"
#include "canary/slab.hpp"

namespace canary::tools {

struct DumpSnapshot {
  std::string name;
  std::uint32_t layout_version = 0;
  std::uint64_t total_size = 0;
  std::uint64_t created_unix_ns = 0;
  std::uint32_t creator_pid = 0;
  SegmentParams params;
  std::unique_ptr<ConfigData> config;
  SlabTotals totals;
  std::vector<RingInfo> rings;
  std::uint64_t no_ring_drops = 0, reaped_records = 0, reclaimed_rings = 0, retired_full_drops = 0;
  std::uint64_t crashed_in_flight = 0, invalid_in_flight = 0;
  std::uint64_t latency_clamped = 0, lost_records = 0;
  AggregatorLiveness aggregator;
  std::uint64_t coarse_clock_ms = 0;
  std::uint64_t now_unix_ns = 0;
  std::unique_ptr<SummaryData> summary;  // the aggregator's latest, if it ever published one
};

// Errc::corrupt when the config has no valid copy.
Expected<DumpSnapshot> take_snapshot(const Segment& segment);

std::string render_text(const DumpSnapshot& s);
std::string render_json(const DumpSnapshot& s, bool pretty);

}  // namespace canary::tools
