// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/time_clusters.hpp"

#include <algorithm>
#include <cmath>

#include "canary/decision/design_effect.hpp"

namespace canary {

void TimeClusters::Moments::add(double k_slice, double n_slice) {
  k += k_slice;
  kk += k_slice * k_slice;
  kn += k_slice * n_slice;
}

void TimeClusters::add(std::uint64_t requests, std::uint64_t errors, std::uint64_t unavailable, double dt_seconds) {
  open_n_ += static_cast<double>(requests);
  open_errors_ += static_cast<double>(errors);
  open_unavailable_ += static_cast<double>(unavailable);
  if (dt_seconds > 0) open_seconds_ += dt_seconds;
  if (open_seconds_ < kSliceSeconds) return;
  if (open_n_ > 0) {
    errors_.add(open_errors_, open_n_);
    unavailable_.add(open_unavailable_, open_n_);
    n_ += open_n_;
    nn_ += open_n_ * open_n_;
    ++closed_;
  }
  open_n_ = open_errors_ = open_unavailable_ = open_seconds_ = 0;
}

std::uint64_t TimeClusters::slices() const { return closed_ + (open_n_ > 0 ? 1 : 0); }

double TimeClusters::effect(const Moments& closed, double open_k) const {
  const double n = n_ + open_n_;
  const double k = closed.k + open_k;
  if (n <= 0) return 1;
  const double rate = k / n;
  // sum over the slices of (k_s - rate n_s)^2, expanded: the closed slices' sums, then the open one.
  double residuals = closed.kk - 2 * rate * closed.kn + rate * rate * nn_;
  if (open_n_ > 0) residuals += (open_k - rate * open_n_) * (open_k - rate * open_n_);
  return cluster_design_effect(std::max(0.0, residuals), static_cast<double>(slices()), n, k);
}

void TimeClusters::serialize(ByteWriter& out) const {
  out.u64(closed_);
  for (double x : {errors_.k, errors_.kk, errors_.kn, unavailable_.k, unavailable_.kk, unavailable_.kn, n_, nn_, open_n_,
                   open_errors_, open_unavailable_, open_seconds_})
    out.f64(x);
}

bool TimeClusters::deserialize(ByteReader& in) {
  TimeClusters t;
  if (!in.u64(t.closed_)) return false;
  for (double* x : {&t.errors_.k, &t.errors_.kk, &t.errors_.kn, &t.unavailable_.k, &t.unavailable_.kk, &t.unavailable_.kn,
                    &t.n_, &t.nn_, &t.open_n_, &t.open_errors_, &t.open_unavailable_, &t.open_seconds_})
    if (!in.f64(*x) || !std::isfinite(*x) || *x < 0) return false;
  *this = t;
  return true;
}

}  // namespace canary
