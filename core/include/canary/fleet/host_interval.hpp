// SPDX-License-Identifier: Apache-2.0
// What a host hands the fleet controller for each of its aggregator's intervals (SPEC section 11):
// the cumulative counts of every (version, endpoint) that has any, and the latencies drained in
// that interval per version, as a t-digest and a sketch (mergeable, binary).
//
// Counts are cumulative since the segment was created (its slabs), so the controller adds
// `cumulative - what it saw last` and counts every request exactly once whatever it missed; the
// latencies of an interval are added once because each interval is named by (epoch, sequence):
// the epoch is the aggregator run's start, the sequence counts its intervals from 1.
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
  std::uint64_t epoch = 0, sequence = 0;
  friend bool operator<(const IntervalId& a, const IntervalId& b) {
    return a.epoch != b.epoch ? a.epoch < b.epoch : a.sequence < b.sequence;
  }
  friend bool operator==(const IntervalId&, const IntervalId&) = default;
};

// "EPOCH.SEQ"; or nothing when it is not one.
std::optional<IntervalId> parse_interval_id(std::string_view text);
std::string to_string(const IntervalId& id);

struct HostInterval {
  std::uint64_t segment_id = 0;  // the segment's creation time: a new segment counts from zero
  IntervalId id;
  std::uint64_t unix_ns = 0;
  std::uint64_t config_generation = 0;
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
