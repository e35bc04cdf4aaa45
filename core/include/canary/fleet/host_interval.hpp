// SPDX-License-Identifier: Apache-2.0
// What a host hands the fleet controller for each of its aggregator's intervals (SPEC section 11):
// the cumulative counts of every (version, endpoint) that has any, and the latencies drained in
// that interval per version, as a t-digest and a sketch (mergeable, binary).
//
// Counts are cumulative since the segment was created (its slabs), so the controller adds
// `cumulative - what it saw last` and counts every request exactly once whatever it missed; the
// latencies of an interval are added once because each interval is named by (run, sequence):
// the run is a random number drawn when the aggregator starts (not its clock: a clock stepped back
// must not make a new run look older than the last), the sequence counts its intervals from 1.
//
// Each interval also says which fleet config it was recorded under (the generation the host had
// applied, and whether its config changed during the interval), so the leader counts it only in
// the step it belongs to (merge_state.hpp).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/layout.hpp"
#include "canary/status.hpp"
#include "canary/window_series.hpp"

namespace canary::fleet {

struct IntervalCell {
  std::uint32_t version = 0, endpoint = 0;
  WindowCounts cumulative;
};

struct IntervalId {
  std::uint64_t epoch = 0, sequence = 0;  // epoch: the aggregator run (random, never 0 once running)
  friend bool operator==(const IntervalId&, const IntervalId&) = default;
  // Whether `id` comes after this one: later in the same run, or from another run (a host's
  // history holds one run only, so whatever it has of another run is new to a reader).
  bool precedes(const IntervalId& id) const { return id.epoch != epoch || id.sequence > sequence; }
  // Whether `id` is the very next interval of the same run: nothing lies between them.
  bool followed_by(const IntervalId& id) const { return id.epoch == epoch && epoch != 0 && id.sequence == sequence + 1; }
};

// A random run id for a new aggregator run (never 0).
std::uint64_t new_run_id();

// "EPOCH.SEQ"; or nothing when it is not one.
std::optional<IntervalId> parse_interval_id(std::string_view text);
std::string to_string(const IntervalId& id);

// HostInterval::fleet_flags.
inline constexpr std::uint64_t kConfigChanged = 1;  // the host wrote its segment's config during it
inline constexpr std::uint64_t kFellBack = 2;       // the host routed by its etcd-lost fallback

struct HostInterval {
  std::uint64_t segment_id = 0;  // the segment's creation time: a new segment counts from zero
  IntervalId id;
  std::uint64_t unix_ns = 0;
  std::uint64_t config_generation = 0;  // the segment's
  std::uint64_t fleet_generation = 0;   // the fleet config the host had applied at the interval's end
  std::uint64_t fleet_flags = 0;        // kConfigChanged, kFellBack: the interval belongs to no step
  std::vector<IntervalCell> cells;
  Samples latency[kMaxVersions];  // drained in this interval, every endpoint of the version
};

// One interval's bytes (non-const: digests compress as they serialize).
std::string encode_interval(HostInterval& interval);
// A batch of encoded intervals, oldest first: what GET .../fleet/intervals answers (binary).
std::string encode_batch(const std::vector<std::string_view>& encoded);
// Every field checked: a hostile or truncated body is an error, never a crash.
Expected<std::vector<HostInterval>> decode_batch(std::string_view bytes);

// The host's retained intervals: the newest `capacity` (300 at a 1 s interval: 5 minutes).
// Thread-safe: the aggregator's thread pushes, the admin server's threads read.
class IntervalHistory {
 public:
  explicit IntervalHistory(std::size_t capacity) : capacity_(capacity) {}
  void push(IntervalId id, std::string encoded);
  // Every retained interval after `after`, oldest first, at most `limit`, encoded.
  std::string encode_after(const IntervalId& after, std::size_t limit) const;
  std::optional<IntervalId> newest() const;

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<std::pair<IntervalId, std::string>> intervals_;  // oldest first
};

}  // namespace canary::fleet
