// SPDX-License-Identifier: Apache-2.0
#include "canary/stats/effect_sequence.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace canary::stats {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double variance_of(double n, double sum, double sum_squares) {
  if (n <= 0) return 0;
  const double mean = sum / n;
  return std::max(0.0, sum_squares / n - mean * mean);
}

}  // namespace

double rho_squared_for(std::uint64_t n_star, double alpha) {
  const double l = -2 * std::log(alpha);
  return (l + std::log(l + 1)) / static_cast<double>(std::max<std::uint64_t>(n_star, 1));
}

Interval mean_sequence(std::uint64_t n, double mean, double variance, double alpha, double rho_squared) {
  if (n < 2) return {-kInf, kInf};
  const double t = static_cast<double>(n);
  const double spread = t * variance * rho_squared + 1;
  const double half = std::sqrt(2 * spread / (t * t * rho_squared) * std::log(std::sqrt(spread) / alpha));
  return {mean - half, mean + half};
}

Interval arm_mean_interval(const ArmSample& arm, double alpha, std::uint64_t horizon) {
  const double n = static_cast<double>(arm.users);
  if (arm.users == 0) return {-kInf, kInf};
  return mean_sequence(arm.users, arm.sum / n, variance_of(n, arm.sum, arm.sum_squares), alpha,
                       rho_squared_for(horizon, alpha));
}

Interval difference_interval(const ArmSample& control, const ArmSample& treatment, double control_share,
                             double treatment_share, double alpha, std::uint64_t horizon) {
  const double pi_t = treatment_share / (control_share + treatment_share);
  const double pi_c = 1 - pi_t;
  const std::uint64_t users = control.users + treatment.users;
  if (control.users == 0 || treatment.users == 0 || !(pi_t > 0 && pi_c > 0)) return {-kInf, kInf};
  const double n = static_cast<double>(users);
  const double sum = treatment.sum / pi_t - control.sum / pi_c;
  const double sum_squares = treatment.sum_squares / (pi_t * pi_t) + control.sum_squares / (pi_c * pi_c);
  return mean_sequence(users, sum / n, variance_of(n, sum, sum_squares), alpha, rho_squared_for(horizon, alpha));
}

Interval relative_lift_interval(const ArmSample& control, const ArmSample& treatment, double control_share,
                                double treatment_share, double alpha, std::uint64_t horizon) {
  const Interval d = difference_interval(control, treatment, control_share, treatment_share, alpha / 2, horizon);
  const Interval c = arm_mean_interval(control, alpha / 2, horizon);
  if (!(c.lower > 0) || !std::isfinite(d.lower) || !std::isfinite(d.upper)) return {-kInf, kInf};
  // Dividing by the control mean's interval: the widest ratio each side of the difference allows.
  return {d.lower / (d.lower >= 0 ? c.upper : c.lower), d.upper / (d.upper >= 0 ? c.lower : c.upper)};
}

}  // namespace canary::stats
