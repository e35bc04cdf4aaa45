// SPDX-License-Identifier: Apache-2.0
#include "canary/stats/change_detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace canary::stats {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The post-change rates as multiples of the limit, and their weights (summing to 1). Most weight
// sits just above the limit: large changes carry so much evidence a request that a small weight
// costs them little (10% against 5%: 0.02 nats a request), small ones need all the help they get.
constexpr std::array<double, RateChangeDetector::kAlternatives> kRatio = {1.1, 1.2, 1.35, 1.5, 2, 3, 5, 10};
constexpr std::array<double, RateChangeDetector::kAlternatives> kWeight = {0.15, 0.2, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05};

double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double hi = std::max(a, b);
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

// The alternative rate for one ratio; a limit near 1 leaves little room above it.
double alternative(double limit, double ratio) { return std::min(limit * ratio, (limit + 1) / 2); }

}  // namespace

void RateChangeDetector::reset(double limit) {
  limit_ = std::clamp(limit, 1e-9, 1 - 1e-9);
  log_r_.fill(kNegInf);
  log_block_l_.fill(0);
  log_last_block_l_.fill(0);
  block_seconds_ = 0;
  for (std::size_t i = 0; i < kAlternatives; ++i) {
    const double p1 = alternative(limit_, kRatio[i]);
    log_event_[i] = std::log(p1 / limit_);
    log_no_event_[i] = std::log1p(-p1) - std::log1p(-limit_);
  }
}

void RateChangeDetector::update(std::uint64_t requests, std::uint64_t events, double dt_seconds) {
  if (!(dt_seconds > 0)) return;  // no time passed: nothing to add (its requests belong to no block)
  if (block_seconds_ == 0)
    for (std::size_t i = 0; i < kAlternatives; ++i) log_block_start_[i] = log_add(log_r_[i], std::log(kBlockSeconds));
  events = std::min(events, requests);
  const double k = static_cast<double>(events);
  const double f = static_cast<double>(requests - events);
  block_seconds_ += dt_seconds;
  const bool block_ends = block_seconds_ >= kBlockSeconds;
  for (std::size_t i = 0; i < kAlternatives; ++i) {
    log_block_l_[i] += k * log_event_[i] + f * log_no_event_[i];
    log_r_[i] = log_block_start_[i] + std::min(log_block_l_[i], kBlockLogCap);
    // A statistic far below 1 is worth nothing; flooring it (at what the next block adds) keeps
    // the arithmetic finite and, being smaller than R + B, leaves the guarantee intact.
    if (log_r_[i] < -700) log_r_[i] = kNegInf;
    if (block_ends) {
      log_last_block_l_[i] = log_block_l_[i];
      log_block_l_[i] = 0;
    }
  }
  if (block_ends) block_seconds_ = 0;
}

double RateChangeDetector::log_statistic() const {
  // log sum_i w_i R_i, shifted by the largest term so that every exp() is at most 1.
  static const std::array<double, kAlternatives> log_weight = [] {
    std::array<double, kAlternatives> w{};
    for (std::size_t i = 0; i < kAlternatives; ++i) w[i] = std::log(kWeight[i]);
    return w;
  }();
  double top = kNegInf;
  for (std::size_t i = 0; i < kAlternatives; ++i) top = std::max(top, log_weight[i] + log_r_[i]);
  if (top == kNegInf) return kNegInf;
  double sum = 0;
  for (std::size_t i = 0; i < kAlternatives; ++i)
    if (log_r_[i] != kNegInf) sum += std::exp(log_weight[i] + log_r_[i] - top);
  return top + std::log(sum);
}

double RateChangeDetector::likely_rate() const {
  // The alternative the last whole block and the one under way support best, uncapped: the
  // capped statistic ties every alternative that reached the cap.
  std::size_t best = 0;
  double best_l = kNegInf;
  for (std::size_t i = 0; i < kAlternatives; ++i)
    if (const double l = log_last_block_l_[i] + log_block_l_[i]; l > best_l) {
      best = i;
      best_l = l;
    }
  return log_r_[best] == kNegInf || best_l <= 0 ? limit_ : alternative(limit_, kRatio[best]);
}

void RateChangeDetector::restore(double limit, const std::array<double, kAlternatives>& log_r) {
  reset(limit);
  for (std::size_t i = 0; i < kAlternatives; ++i)
    if (std::isfinite(log_r[i])) log_r_[i] = log_r[i];
}

double change_alarm_log_level(double horizon_seconds, double alpha) { return std::log(horizon_seconds / alpha); }

}  // namespace canary::stats
