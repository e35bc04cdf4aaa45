// SPDX-License-Identifier: Apache-2.0
// The aggregator's memory against `--memory-limit`. Every interval the aggregator adds up what its
// parts hold on the heap (their capacities, measured to within a few percent of malloc's own count
// by tests/memory_bound_test.cpp); once the total reaches the limit, the long windows coarsen, one
// step an interval, in this order: 24h and 6h buckets doubled, then again, then the 1h window's, up
// to eight times (WindowSeries::coarsen). Coarsening never drops a count, and every quantile stays
// within its bound: only a window's edge becomes as coarse as its buckets. Past the last step the
// aggregator keeps running over its limit, and says so.
#pragma once

#include <cstdint>
#include <optional>

namespace canary {

struct MemoryParts {
  std::uint64_t windows = 0;      // every (version, endpoint) window series
  std::uint64_t decisions = 0;    // the decision engines' step and block samples
  std::uint64_t experiments = 0;  // per-user experiment state
  std::uint64_t http = 0;         // the admin API's connections and their unfinished heads
  std::uint64_t total() const { return windows + decisions + experiments + http; }
};

// A coarsening: the window level whose buckets become `factor` times their length.
struct Coarsening {
  std::uint32_t level = 0;  // 1: 1h, 2: 6h, 3: 24h (WindowSeries' levels)
  std::uint32_t factor = 1;
};

class MemoryBudget {
 public:
  explicit MemoryBudget(std::uint64_t limit_bytes = 0) : limit_(limit_bytes) {}

  // The step to take now that the parts hold this much: one when the total reached the limit and
  // a step is left; nullopt otherwise (under the limit, no limit, or nothing left to coarsen).
  std::optional<Coarsening> check(const MemoryParts& parts);

  std::uint64_t limit() const { return limit_; }
  const MemoryParts& last() const { return last_; }
  bool over_limit() const { return limit_ != 0 && last_.total() >= limit_; }
  // Every step has been taken and the total is still at or past the limit.
  bool exhausted() const { return exhausted_; }
  std::uint32_t steps_taken() const { return next_; }
  // The factor a level's buckets have now (1: as designed).
  std::uint32_t factor(std::uint32_t level) const;

 private:
  std::uint64_t limit_;
  MemoryParts last_;
  std::uint32_t next_ = 0;  // the next step of the plan
  bool exhausted_ = false;
};

}  // namespace canary
