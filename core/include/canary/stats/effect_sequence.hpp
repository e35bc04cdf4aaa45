// SPDX-License-Identifier: Apache-2.0
// Always-valid intervals for an experiment's metrics: each arm's mean per user, and the difference
// and relative lift of a treatment arm against control, that may be read after every interval
// without inflating their error rates.
//
// Asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform
// central limit theory and asymptotic confidence sequences", 2023): for i.i.d. values with mean mu
// and variance sigma^2, after n of them
//
//   mean_n +/- sqrt( 2 (n s^2 rho^2 + 1) / (n^2 rho^2) * log( sqrt(n s^2 rho^2 + 1) / alpha ) )
//
// contains mu at every n at once with probability tending to 1 - alpha (s^2: the sample
// variance). rho sets where the sequence is tightest; rho_squared_for(n*) picks the n*.
//
// The difference of two arms is one such mean: each user of either arm contributes
// phi = y / pi_t in treatment and -y / pi_c in control (pi: the arm's share of the two arms'
// traffic), whose mean is mu_t - mu_c whatever the arms' sizes turn out to be (inverse-propensity
// weighting, the paper's randomized-experiment setting).
#pragma once

#include <cstdint>

#include "canary/stats/confidence_sequence.hpp"

namespace canary::stats {

// One metric's per-user values in one arm.
struct ArmSample {
  std::uint64_t users = 0;
  double sum = 0;
  double sum_squares = 0;
};

// rho^2 that makes the sequence tightest near n* users.
double rho_squared_for(std::uint64_t n_star, double alpha);

// The sequence for a mean of n values with this mean and (biased) variance. Unbounded before 2.
Interval mean_sequence(std::uint64_t n, double mean, double variance, double alpha, double rho_squared);

// An arm's mean per user.
Interval arm_mean_interval(const ArmSample& arm, double alpha, std::uint64_t horizon);

// mu_treatment - mu_control, for arms given shares of traffic (any scale: only their ratio counts).
Interval difference_interval(const ArmSample& control, const ArmSample& treatment, double control_share,
                             double treatment_share, double alpha, std::uint64_t horizon);

// (mu_t - mu_c) / mu_c: the difference's interval and control's mean interval at alpha / 2 each;
// unbounded while control's mean may be 0 or less.
Interval relative_lift_interval(const ArmSample& control, const ArmSample& treatment, double control_share,
                                double treatment_share, double alpha, std::uint64_t horizon);

}  // namespace canary::stats
