// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/change_watch.hpp"

#include <cmath>
#include <cstring>

namespace canary {

std::array<double, kWatchedRates> ChangeWatch::limits(const Policy& policy) {
  const RollbackPolicy& r = policy.rollback;
  return {r.max_error_rate_percent / 100, 0.05, 1 - r.min_availability_percent / 100};
}

void ChangeWatch::reset(const Policy& policy) {
  const auto limit = limits(policy);
  for (auto& version : detectors_)
    for (std::size_t r = 0; r < kWatchedRates; ++r) version[r].reset(limit[r]);
  slow_over_ms_ = policy.rollback.max_p95_ms;
}

void ChangeWatch::adopt(const Policy& policy) {
  const auto limit = limits(policy);
  for (auto& version : detectors_)
    for (std::size_t r = 0; r < kWatchedRates; ++r)
      if (std::fabs(version[r].limit() - limit[r]) > 1e-12) version[r].reset(limit[r]);
  if (policy.rollback.max_p95_ms != slow_over_ms_)
    for (auto& version : detectors_) version[static_cast<std::size_t>(WatchedRate::slow)].reset(limit[1]);
  slow_over_ms_ = policy.rollback.max_p95_ms;
}

void ChangeWatch::update(const IntervalCounts (&counts)[kVersions], double dt_seconds) {
  for (std::size_t v = 0; v < kVersions; ++v) {
    const IntervalCounts& c = counts[v];
    auto& d = detectors_[v];
    d[static_cast<std::size_t>(WatchedRate::errors)].update(c.requests, c.errors, dt_seconds);
    d[static_cast<std::size_t>(WatchedRate::slow)].update(c.latency_samples, c.slow, dt_seconds);
    d[static_cast<std::size_t>(WatchedRate::unavailable)].update(c.requests, c.unavailable, dt_seconds);
  }
}

void ChangeWatch::serialize(ByteWriter& out) const {
  out.f64(slow_over_ms_);
  for (const auto& version : detectors_)
    for (const stats::RateChangeDetector& d : version) {
      out.f64(d.limit());
      for (double x : d.log_r()) out.f64(x);
    }
}

bool ChangeWatch::deserialize(ByteReader& in) {
  if (!in.f64(slow_over_ms_)) return false;
  for (auto& version : detectors_)
    for (stats::RateChangeDetector& d : version) {
      double limit = 0;
      std::array<double, stats::RateChangeDetector::kAlternatives> log_r{};
      if (!in.f64(limit) || !(limit > 0 && limit < 1)) return false;
      for (double& x : log_r)
        if (!in.f64(x)) return false;
      d.restore(limit, log_r);
    }
  return true;
}

}  // namespace canary
