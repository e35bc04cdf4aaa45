// SPDX-License-Identifier: Apache-2.0
// The aggregator's side of experiments: every exposure and outcome event drained from the rings
// lands here, per experiment and per user, so that a conversion counts a user once and a sum is a
// total per user. What it publishes are the sufficient statistics (layout.hpp: ExperimentTotals);
// experiment/results.hpp turns them into intervals and verdicts.
//
// Memory is bounded: at most `max_users` users over all experiments (user_table.hpp: 20-40 bytes
// each with one metric, 47-94 with four; docs/aggregator.md's sizing table). Records of users beyond
// it are not counted, and counted as untracked.
#pragma once

#include <cstdint>
#include <memory>

#include "canary/byte_io.hpp"
#include "canary/experiment/user_table.hpp"
#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {
class Segment;
}

namespace canary::experiment {

inline constexpr std::uint64_t kDefaultMaxUsers = 1'000'000;

class Tracker {
 public:
  explicit Tracker(std::uint64_t max_users = kDefaultMaxUsers) : max_users_(max_users) {}

  // Follows the config's table: a slot whose experiment is new (another created_unix_ns) starts
  // from nothing; a freed slot's users are let go; drops count from the experiment's first start
  // (ExperimentEntry::drops_at_start).
  void sync(const ConfigData& config);
  // An exposure or event record (valid_record() said so).
  void add(const RingRecord& r);
  // The totals as of now, for publishing.
  void fill(ExperimentResultsData& out, const std::uint64_t (&drops_now)[kMaxExperiments]) const;

  // The state of every experiment with its users, for the aggregator's restarts (the checkpoint
  // directory's SEGMENT.experiments). load() takes what the config still has (the same
  // experiment in the same slot), checks every field, and leaves the tracker as it was on error.
  void save(ByteWriter& out) const;
  Status load(ByteReader& in);
  // Records of a slot's experiment an aggregator drained and lost (killed before it kept them).
  void count_lost(std::uint32_t slot, std::uint64_t records) {
    if (slot < kMaxExperiments && slots_[slot].created_unix_ns != 0 && records > 0) {
      slots_[slot].totals.records_lost += records;
      changed_ = true;
    }
  }
  // Whether anything was counted since the last save().
  bool changed() const { return changed_; }
  void mark_saved() { changed_ = false; }

  std::uint64_t users() const { return users_; }
  std::uint64_t max_users() const { return max_users_; }
  // What the users' state holds on the heap.
  std::size_t heap_bytes() const;

 private:
  struct Slot {
    std::uint64_t created_unix_ns = 0;
    ExperimentState state = ExperimentState::free;
    std::uint8_t metric_count = 0;
    MetricKind kinds[kMaxExperimentMetrics] = {};
    UserTable users;
    ExperimentTotals totals{};
    std::uint64_t drops_base = 0;  // the segment's drops of this slot at its first start
    bool started = false;
    bool warned_full = false;
  };
  // The user's slot in the experiment's table, or UserTable::kNone when they are not counted.
  std::size_t user_for(Slot& slot, std::uint32_t experiment, const RingRecord& r);

  std::uint64_t max_users_;
  std::uint64_t users_ = 0;
  bool changed_ = false;
  Slot slots_[kMaxExperiments];
};

// The segment's count of lost exposure and event records per experiment slot: full rings (live
// and freed) and writers without a ring.
void drops_from(const Segment& segment, std::uint64_t (&out)[kMaxExperiments]);

// Publishing and reading the totals in the segment (two copies, like the summary).
void publish_results(Segment& segment, ExperimentResultsData& next) noexcept;
bool read_results(const Segment& segment, ExperimentResultsData& out) noexcept;

}  // namespace canary::experiment
