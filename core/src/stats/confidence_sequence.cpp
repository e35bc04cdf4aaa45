// SPDX-License-Identifier: Apache-2.0
#include "canary/stats/confidence_sequence.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace canary::stats {

namespace {

double lbeta(double a, double b) {
  int sign = 0;
  return lgamma_r(a, &sign) + lgamma_r(b, &sign) - lgamma_r(a + b, &sign);
}

// s log p + f log(1 - p), with 0 log 0 = 0.
double log_likelihood(double s, double f, double p) {
  return (s > 0 ? s * std::log(p) : 0.0) + (f > 0 ? f * std::log1p(-p) : 0.0);
}

}  // namespace

double log_mixture_ratio(std::uint64_t successes, std::uint64_t n, double p, const BetaPrior& prior) {
  return log_mixture_ratio_effective(static_cast<double>(successes), static_cast<double>(n), p, prior);
}

double log_mixture_ratio_effective(double successes, double n, double p, const BetaPrior& prior) {
  const double s = successes;
  const double f = std::max(0.0, n - successes);
  if ((p <= 0 && s > 0) || (p >= 1 && f > 0)) return INFINITY;  // impossible under p
  return lbeta(prior.a + s, prior.b + f) - lbeta(prior.a, prior.b) - log_likelihood(s, f, p);
}

Interval proportion_interval(std::uint64_t successes, std::uint64_t n, double alpha, const BetaPrior& prior) {
  return proportion_interval_effective(static_cast<double>(successes), static_cast<double>(n), alpha, prior);
}

Interval proportion_interval_effective(double successes, double n, double alpha, const BetaPrior& prior) {
  const double limit = std::log(1 / alpha);
  const double estimate = n <= 0 ? 0.5 : successes / n;
  const double s = successes;
  const double f = std::max(0.0, n - successes);
  // log M(p) = (the mixture's marginal, the same for every p) - (the likelihood at p): the
  // marginal's log-gammas once, not at every step of the bisections.
  const double log_marginal = lbeta(prior.a + s, prior.b + f) - lbeta(prior.a, prior.b);
  // log M is convex in p with its minimum (<= 0) at the estimate: bisect each side for the crossing
  // (always strictly inside (0, 1), where the likelihood is finite).
  auto crossing = [&](double inside, double outside) {
    for (int i = 0; i < 60; ++i) {
      const double mid = (inside + outside) / 2;
      (log_marginal - log_likelihood(s, f, mid) < limit ? inside : outside) = mid;
    }
    return inside;
  };
  Interval r{0, 1};
  if (successes > 0) r.lower = crossing(estimate, 0);
  if (successes < n) r.upper = crossing(estimate, 1);
  return r;
}

RankInterval quantile_rank_interval(std::uint64_t n, double q, double alpha, const BetaPrior& prior) {
  const double limit = std::log(1 / alpha);
  const auto crosses = [&](std::uint64_t count) { return log_mixture_ratio(count, n, q, prior) >= limit; };
  const auto centre = static_cast<std::uint64_t>(std::floor(q * static_cast<double>(n)));
  RankInterval r{0, n + 1};
  // Below the centre log M falls as the count rises: the largest count that still crosses, j,
  // bounds B_n (the samples at or below the quantile) from below, so X_(j + 1) <= quantile.
  if (crosses(0)) {
    std::uint64_t lo = 0, hi = centre;  // crosses(lo), and no crossing at or beyond the centre
    while (hi - lo > 1) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      (crosses(mid) ? lo : hi) = mid;
    }
    r.lower = lo + 1;
  }
  // Above the centre it rises: the smallest crossing count k gives quantile <= X_(k).
  if (crosses(n)) {
    std::uint64_t lo = centre, hi = n;  // no crossing at lo, crosses(hi)
    while (hi - lo > 1) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      (crosses(mid) ? hi : lo) = mid;
    }
    r.upper = hi;
  }
  return r;
}

double spent_alpha(double alpha, std::uint64_t i) {
  const double k = static_cast<double>(std::max<std::uint64_t>(i, 1));
  return alpha * 6 / (std::numbers::pi * std::numbers::pi * k * k);
}

}  // namespace canary::stats
