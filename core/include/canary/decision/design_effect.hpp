// SPDX-License-Identifier: Apache-2.0
// The design effect of a count cut into clusters (users' buckets, slices of time): the
// cluster-robust variance of the count, estimated from the clusters' residuals around the common
// rate, over the binomial variance n rate (1 - rate) of the same count. At least 1; 1 when there is
// nothing to estimate (fewer than two clusters, no event, or nothing but events).
#pragma once

#include <algorithm>

namespace canary {

// sum_squared_residuals: sum over the clusters of (k_c - rate n_c)^2, rate = k / n.
inline double cluster_design_effect(double sum_squared_residuals, double clusters, double n, double k) {
  if (clusters < 2 || n <= 0 || k <= 0 || k >= n) return 1;
  const double rate = k / n;
  const double cluster_variance = clusters / (clusters - 1) * sum_squared_residuals;
  return std::max(1.0, cluster_variance / (n * rate * (1 - rate)));
}

}  // namespace canary
