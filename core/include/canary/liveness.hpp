// SPDX-License-Identifier: Apache-2.0
// Is an aggregator running on this segment? Two signs: it holds the aggregator lock (the kernel
// drops it when the process dies), and its heartbeat moves (a live process that stopped working
// keeps the lock but not the heartbeat). Tools read both; neither needs write access.
#pragma once

#include <cstdint>
#include <string_view>

namespace canary {

class Segment;

enum class AggregatorState {
  none,     // no aggregator ever ran on this segment
  alive,    // holds the lock, heartbeat fresh
  stalled,  // holds the lock, heartbeat older than kStaleHeartbeatSeconds
  dead,     // ran once; nobody holds the lock now
};

inline constexpr double kStaleHeartbeatSeconds = 5;

struct AggregatorLiveness {
  AggregatorState state = AggregatorState::none;
  std::uint32_t pid = 0;
  std::uint64_t heartbeat_unix_ns = 0;
  double heartbeat_age_s = 0;
};

AggregatorLiveness aggregator_liveness(const Segment& segment);

// Whether a live aggregator holds the segment called `name`, from its lock alone, so that it also
// answers for a segment this build cannot attach to (another layout, corrupt). `pid` is the one
// the aggregator published, 0 when the segment cannot be read. Used before anything replaces or
// removes a segment: an aggregator left on an unlinked file would act on nothing.
struct SegmentHolder {
  bool aggregator_alive = false;
  std::uint32_t pid = 0;
};
SegmentHolder segment_holder(std::string_view name);
std::string_view to_string(AggregatorState s);

}  // namespace canary
