// SPDX-License-Identifier: Apache-2.0
// Sequential change detection for a rate that must stay at or below a limit p0 (an error rate, an
// unavailable rate, the share of requests slower than a latency limit), for the absolute rollback
// triggers. A confidence sequence restarted block after block needs more evidence the longer a
// rollout runs (each block gets a smaller alpha); a change detector does not: its delay after a
// change at hour 2 is the delay after a change at minute 10.
//
// It is a Shiryaev-Roberts e-detector (Shin, Ramdas & Rinaldo, "E-detectors: a nonparametric
// framework for sequential change detection", 2023) mixed over a grid of post-change rates
// p1 = p0 x r, r > 1. For one p1, each interval's likelihood ratio
//
//   L = (p1 / p0)^k ((1 - p1) / (1 - p0))^(n - k)      (k events in n requests)
//
// has mean at most 1 for every rate p <= p0 (the whole null, not only p0), and
//
//   R_t = (R_{t-1} + dt) L_t                             (dt: the interval's seconds)
//
// sums the e-processes started at every past moment. R_t + (T - elapsed) is a nonnegative
// supermartingale up to time T, so P(R ever reaches c within T seconds) <= T / c. With
// c = horizon / alpha, a rate that stays within its limit raises a false alarm within the horizon
// with probability at most alpha. A weighted mean of such detectors is one too; the weights favour
// rates just above the limit, where evidence is scarce (6% against 5% carries 0.001 nats a request).
#pragma once

#include <array>
#include <cstdint>

namespace canary::stats {

class RateChangeDetector {
 public:
  static constexpr std::size_t kAlternatives = 8;

  RateChangeDetector() = default;
  explicit RateChangeDetector(double limit) { reset(limit); }

  // A new rate limit clears the evidence (it was evidence against another null).
  void reset(double limit);
  double limit() const { return limit_; }

  // One interval: events among requests, over dt seconds.
  void update(std::uint64_t requests, std::uint64_t events, double dt_seconds);

  // log of the mixture statistic: alarm when it reaches log(horizon_seconds / alpha).
  double log_statistic() const;
  // The post-change rate best supported by the evidence (the alternative with the largest R).
  double likely_rate() const;

  // For checkpoints.
  const std::array<double, kAlternatives>& log_r() const { return log_r_; }
  void restore(double limit, const std::array<double, kAlternatives>& log_r);

 private:
  double limit_ = 0;
  std::array<double, kAlternatives> log_r_{};  // log R per alternative; -inf before any time passed
  // Per alternative: log(p1 / p0) for an event, log((1 - p1) / (1 - p0)) for a request without.
  std::array<double, kAlternatives> log_event_{};
  std::array<double, kAlternatives> log_no_event_{};
};

// The alarm level of a detector given alpha over a horizon: log(horizon / alpha).
double change_alarm_log_level(double horizon_seconds, double alpha);

}  // namespace canary::stats
