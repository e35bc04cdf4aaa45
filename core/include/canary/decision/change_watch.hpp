// SPDX-License-Identifier: Apache-2.0
// The change detectors behind the absolute rollback triggers (stats/change_detector.hpp), one per
// trigger and version: the error rate against rollback.max_error_rate, the unavailable rate
// against 100% - rollback.min_availability, and the share of requests slower than
// rollback.max_p95_ms against 5% (a P95 above the limit means more than 5% of requests above it).
// Fed once per interval with that interval's counts; they run for the whole rollout (a ramp step
// does not restart them), which is what keeps a late break as quick to catch as an early one.
#pragma once

#include <array>
#include <cstdint>

#include "canary/byte_io.hpp"
#include "canary/decision/policy.hpp"
#include "canary/stats/change_detector.hpp"

namespace canary {

enum class WatchedRate : std::uint8_t { errors, slow, unavailable };
inline constexpr std::size_t kWatchedRates = 3;

// One version's counts over one interval.
struct IntervalCounts {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t unavailable = 0;
  std::uint64_t latency_samples = 0;  // the requests whose latency was seen (drained records)
  std::uint64_t slow = 0;             // of those, slower than rollback.max_p95_ms
};

class ChangeWatch {
 public:
  // index 0: legacy, 1: canary
  static constexpr std::size_t kVersions = 2;

  ChangeWatch() { reset(Policy{}); }
  explicit ChangeWatch(const Policy& policy) { reset(policy); }

  // A new rollout, or thresholds that moved: the evidence so far was against other limits.
  void reset(const Policy& policy);
  // Keeps the evidence when the limits are the same as the policy's, else resets.
  void adopt(const Policy& policy);

  void update(const IntervalCounts (&counts)[kVersions], double dt_seconds);

  const stats::RateChangeDetector& detector(std::size_t version, WatchedRate r) const {
    return detectors_[version][static_cast<std::size_t>(r)];
  }

  void serialize(ByteWriter& out) const;
  bool deserialize(ByteReader& in);

 private:
  static std::array<double, kWatchedRates> limits(const Policy& policy);
  stats::RateChangeDetector detectors_[kVersions][kWatchedRates];
  double slow_over_ms_ = 0;  // what `slow` means: rollback.max_p95_ms when the evidence began
};

}  // namespace canary
