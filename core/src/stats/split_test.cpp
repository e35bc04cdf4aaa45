// SPDX-License-Identifier: Apache-2.0
#include "canary/stats/split_test.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace canary::stats {

namespace {

// Log-odds shifts, both ways, equally weighted: from 0.01 (a 3% loss of the canary's units moves
// its log-odds by 0.03) to 1 (a router that sends 13% instead of 5%).
constexpr std::array<double, 10> kShift = {0.01, 0.02, 0.03, 0.05, 0.08, 0.13, 0.2, 0.35, 0.6, 1.0};

double logistic(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

void SplitTest::add(double p, std::uint64_t n, std::uint64_t k) {
  if (!(p > 0 && p < 1) || n == 0) return;  // a certain side says nothing about the split
  Counts& c = strata_[p];
  c.n += n;
  c.k += std::min(k, n);
}

double SplitTest::log_evidence() const {
  if (strata_.empty()) return 0;
  constexpr std::size_t kCount = 2 * kShift.size();
  std::array<double, kCount> log_l{};
  for (const auto& [p, c] : strata_) {
    const double logit = std::log(p / (1 - p));
    const auto k = static_cast<double>(c.k);
    const auto f = static_cast<double>(c.n - c.k);
    for (std::size_t i = 0; i < kCount; ++i) {
      const double theta = i < kShift.size() ? kShift[i] : -kShift[i - kShift.size()];
      const double q = logistic(logit + theta);
      log_l[i] += k * std::log(q / p) + f * std::log((1 - q) / (1 - p));
    }
  }
  const double top = *std::max_element(log_l.begin(), log_l.end());
  double sum = 0;
  for (double l : log_l) sum += std::exp(l - top);
  return top + std::log(sum / kCount);
}

std::uint64_t SplitTest::units() const {
  std::uint64_t n = 0;
  for (const auto& [p, c] : strata_) n += c.n;
  return n;
}

double SplitTest::observed() const {
  std::uint64_t n = 0, k = 0;
  for (const auto& [p, c] : strata_) {
    n += c.n;
    k += c.k;
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(k) / static_cast<double>(n);
}

double SplitTest::expected() const {
  double n = 0, k = 0;
  for (const auto& [p, c] : strata_) {
    n += static_cast<double>(c.n);
    k += p * static_cast<double>(c.n);
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : k / n;
}

}  // namespace canary::stats
