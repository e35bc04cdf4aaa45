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
//
// Errors come in bursts: a dependency that flaps fails half the requests for ten seconds, and such
// a burst carries about 80 nats that the rate *was* 50% then, an alarm by itself although the rate
// may average half the limit. So the detector works in blocks of kBlockSeconds: R grows by the
// block's length when the block begins, and the block's likelihood ratio counts at most
// exp(kBlockLogCap),
//
//   R_b = (R_{b-1} + B) min(L_b, C)
//
// min(L, C) is a supermartingale within the block wherever L is a martingale (C is a constant),
// so the guarantee above holds with the statistic read after every interval. What the cap buys: a
// block of any burst adds at most log C nats, and the level needs about (log(T / alpha) - log B) /
// log C blocks of it in a row, while a quiet block takes evidence away. What it costs: a large
// break needs that many blocks too (10% against 5%: about 150 s whatever the traffic), while a
// small one, whose blocks carry less than log C each (6% against 5% at 10 requests a second:
// 0.3 nats a block), is caught as before. Large breaks at high traffic are also caught by the
// comparisons against legacy and, once a step is a minute old, by its own bounds.

#pragma once

#include <array>
#include <cstdint>

namespace canary::stats {

class RateChangeDetector {
 public:
  static constexpr std::size_t kAlternatives = 8;
  static constexpr double kBlockSeconds = 15;
  static constexpr double kBlockLogCap = 2;

  RateChangeDetector() = default;
  explicit RateChangeDetector(double limit) { reset(limit); }

  // A new rate limit clears the evidence (it was evidence against another null).
  void reset(double limit);
  double limit() const { return limit_; }

  // One interval: events among requests, over dt seconds.
  void update(std::uint64_t requests, std::uint64_t events, double dt_seconds);

  // log of the mixture statistic: alarm when it reaches log(horizon_seconds / alpha).
  double log_statistic() const;
  // The post-change rate the last block and the one under way support best (the limit when none
  // is above it).
  double likely_rate() const;

  // For checkpoints: the statistic per alternative now (a restored detector begins a new block).
  const std::array<double, kAlternatives>& log_r() const { return log_r_; }
  void restore(double limit, const std::array<double, kAlternatives>& log_r);

 private:
  double limit_ = 0;
  std::array<double, kAlternatives> log_r_{};  // log R per alternative now; -inf before any time passed
  // The block under way: log(R_{b-1} + B) per alternative, its likelihood ratio so far, its seconds.
  std::array<double, kAlternatives> log_block_start_{};
  std::array<double, kAlternatives> log_block_l_{};
  std::array<double, kAlternatives> log_last_block_l_{};  // the last whole block's, uncapped
  double block_seconds_ = 0;
  // Per alternative: log(p1 / p0) for an event, log((1 - p1) / (1 - p0)) for a request without.
  std::array<double, kAlternatives> log_event_{};
  std::array<double, kAlternatives> log_no_event_{};
};

// The alarm level of a detector given alpha over a horizon: log(horizon / alpha).
double change_alarm_log_level(double horizon_seconds, double alpha);

}  // namespace canary::stats
