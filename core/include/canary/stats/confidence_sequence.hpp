// SPDX-License-Identifier: Apache-2.0
// Confidence sequences: intervals that hold for every sample size at once, so a decision may be
// re-checked every interval without inflating its error rate (a fixed-n test checked 3,600 times an
// hour fails far more often than its alpha says).
//
// For a Bernoulli proportion p, the Beta(a, b) mixture of likelihood ratios
//
//   M_n(p) = B(a + s, b + n - s) / B(a, b) / (p^s (1 - p)^(n - s))
//
// is a nonnegative martingale with M_0 = 1 when p is the true rate, so by Ville's inequality
// P(M_n(p) >= 1/alpha for some n) <= alpha. The set {p : M_n(p) < 1/alpha} is an interval that
// contains the true p at every n with probability at least 1 - alpha (Robbins 1970; Howard, Ramdas,
// McAuliffe & Sekhon 2021).
//
// Quantiles reduce to proportions: the number of samples at or below the true q-quantile is
// Binomial(n, q), so bounding that count for all n bounds the quantile between two order
// statistics (Howard & Ramdas 2022, "Sequential estimation of quantiles").
#pragma once

#include <cstdint>

namespace canary::stats {

struct BetaPrior {
  double a;
  double b;
};

double log_mixture_ratio(std::uint64_t successes, std::uint64_t n, double p, const BetaPrior& prior);
// The same for effective counts: n requests with a design effect D (user-level variance D times the
// binomial's, decision/user_buckets.hpp) are worth n / D independent ones, with successes / D
// successes. The mixture is defined for real-valued counts; D = 1 is the exact test.
double log_mixture_ratio_effective(double successes, double n, double p, const BetaPrior& prior);

struct Interval {
  double lower;
  double upper;
};

// Every p with M_n(p) < 1/alpha. [0, 1] before any data.
Interval proportion_interval(std::uint64_t successes, std::uint64_t n, double alpha, const BetaPrior& prior);
Interval proportion_interval_effective(double successes, double n, double alpha, const BetaPrior& prior);

// Order-statistic ranks (1-based) with X_(lower) <= q-quantile <= X_(upper) for every n at once
// with probability >= 1 - alpha. lower == 0: no lower bound yet; upper == n + 1: no upper bound.
struct RankInterval {
  std::uint64_t lower;
  std::uint64_t upper;
};
RankInterval quantile_rank_interval(std::uint64_t n, double q, double alpha, const BetaPrior& prior);

// Splits a family's alpha over a sequence of tests that restart (ramp steps, rolling windows):
// the i-th (1-based) gets alpha * 6 / (pi^2 i^2), which sums to alpha over all i.
double spent_alpha(double alpha, std::uint64_t i);

}  // namespace canary::stats
