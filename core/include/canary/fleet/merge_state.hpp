// SPDX-License-Identifier: Apache-2.0
// What the fleet's leader has merged: per host, how far it has read (the last interval, and the
// host's cumulative counts per version then); per scope (each region, and "" for the whole fleet),
// the counts and latencies of the current step and the counts since the controller's state began.
//
// Counts merge by addition of `cumulative now - cumulative last seen`, so every request counts
// once even across intervals that were never pulled; latencies merge interval by interval, each
// interval once by its (run, sequence). The leader writes this state to etcd every checkpoint,
// guarded by its leadership: a standby that takes over reads it and goes on from there.
//
// Data belongs to a step: an interval counts in a scope's step only when it was recorded whole
// under a config generation at or after the one that began the step (HostInterval says which, and
// whether the config changed during it) and follows the last interval read from that host with
// nothing between (else its counts span time of unknown config: a gap, a restart, a new leader's
// first read). Every other interval counts in the totals and in `intervals_left_out`, in no step.
//
// A step is also cut into slices of the leader's time as it merges (the slice a request falls in
// is the round that merged it, a second or so after it was served), for the design effect of
// bursts that the absolute triggers take.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "canary/byte_io.hpp"
#include "canary/decision/time_clusters.hpp"
#include "canary/fleet/host_interval.hpp"
#include "canary/window_series.hpp"

namespace canary::fleet {

inline constexpr std::uint32_t kFleetSides = 2;  // the baseline (0) and the candidate (1)

struct HostCursor {
  IntervalId last;
  std::uint64_t segment_id = 0;
  WindowCounts cumulative[kFleetSides];  // the host's totals at `last`
  std::string region;
};

struct Stretch {
  WindowCounts counts[kFleetSides];
  Samples latency[kFleetSides];
  std::uint64_t sequence = 1;  // restarts so far + 1: each restart gets a smaller share of alpha
  std::string key;             // what the stretch belongs to (the share, the rollout): a change restarts it
  std::uint64_t first_generation = 0;  // the fleet config generation that began it
  // How long the gate has held without a break, summed from the leaders' own monotonic clocks
  // (never a difference of two machines' wall clocks); 0 when it does not hold.
  std::uint64_t gate_held_ms = 0;
  // The fleet scope's counts by region: the strata of its comparisons against the baseline (a
  // region's own step has one region and none).
  std::map<std::string, std::array<WindowCounts, kFleetSides>> regions;
  // The step's slices of time as the leader merged them (bursts: decision/time_clusters.hpp), and
  // the counts already sliced.
  TimeClusters time[kFleetSides];
  WindowCounts sliced[kFleetSides];
  // Adds what was merged since the last call, over the leader's elapsed milliseconds; errors as
  // the policy counts them.
  void slice(std::uint64_t elapsed_ms, bool count_4xx_as_errors);
};

struct MergeState {
  std::map<std::string, HostCursor> hosts;
  std::map<std::string, Stretch> steps;  // by scope: a region, or "" for the fleet
  std::map<std::string, std::array<WindowCounts, kFleetSides>> totals;  // by scope, never restarted
  std::uint64_t intervals_merged = 0;
  std::uint64_t intervals_left_out = 0, requests_left_out = 0;  // merged into the totals, in no step

  // Adds one host's intervals (oldest first) to its region's and the fleet's scopes; intervals at
  // or before the host's cursor are skipped, and those recorded under a config newer than
  // `generation` (the leader's) wait for the next call. Returns how many were merged.
  // `candidate_serves`: whether the candidate runs in the host's region. When it does not, the
  // baseline's latencies stay out of the fleet scope's step (the P95/P99 comparisons compare like
  // with like: regions the candidate could have served); its counts stay in (the error-rate
  // comparisons are stratified by region, and such a region weighs nothing in them).
  std::size_t merge(const std::string& host, const std::string& region, std::vector<HostInterval>& intervals,
                    std::uint64_t generation, bool candidate_serves = true);
  // Restarts a scope's step when its key changed; `generation`: the config that changed it.
  Stretch& step(const std::string& scope, const std::string& key, std::uint64_t generation);

  std::string serialize();
  static Expected<MergeState> deserialize(std::string_view bytes);
};

}  // namespace canary::fleet
