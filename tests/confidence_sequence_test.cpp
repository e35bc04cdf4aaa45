// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <random>

#include "canary/stats/confidence_sequence.hpp"

namespace canary::stats {
namespace {

// Ville's inequality, checked: over whole sequences, the interval misses the truth at any n in
// at most alpha of them.
TEST(ConfidenceSequence, AProportionIntervalHoldsAtEveryNAtOnce) {
  const double alpha = 0.1;
  for (double p : {0.005, 0.05, 0.3}) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(p * 1e6));
    std::bernoulli_distribution coin(p);
    int missed = 0;
    const int sequences = 300;
    for (int s = 0; s < sequences; ++s) {
      std::uint64_t k = 0;
      for (std::uint64_t n = 1; n <= 3000; ++n) {
        k += coin(rng);
        if (n % 25 != 0) continue;
        const Interval i = proportion_interval(k, n, alpha, {0.5, 20});
        if (p < i.lower || p > i.upper) {
          ++missed;
          break;
        }
      }
    }
    EXPECT_LE(missed, static_cast<int>(alpha * sequences)) << "p " << p;
  }
}

TEST(ConfidenceSequence, QuantileRanksBracketTheQuantileAtEveryNAtOnce) {
  const double alpha = 0.1, q = 0.95;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const int sequences = 300;
  int missed = 0;
  // Order statistics of uniforms: X_(lower) <= 0.95 <= X_(upper) must hold for every n at once.
  for (int s = 0; s < sequences; ++s) {
    std::vector<double> sample;
    bool miss = false;
    for (std::uint64_t n = 1; n <= 2000 && !miss; ++n) {
      sample.push_back(u(rng));
      if (n % 50 != 0) continue;
      std::vector<double> sorted = sample;
      std::sort(sorted.begin(), sorted.end());
      const RankInterval r = quantile_rank_interval(n, q, alpha, {q * 200, (1 - q) * 200});
      const double lower = r.lower == 0 ? 0 : sorted[r.lower - 1];
      const double upper = r.upper > n ? 1 : sorted[r.upper - 1];
      miss = lower > q || upper < q;
    }
    missed += miss;
  }
  EXPECT_LE(missed, static_cast<int>(alpha * sequences));
}

TEST(ConfidenceSequence, IntervalsNarrowWithDataAndStartWide) {
  const Interval none = proportion_interval(0, 0, 0.05, {0.5, 20});
  EXPECT_EQ(none.lower, 0);
  EXPECT_EQ(none.upper, 1);
  const Interval some = proportion_interval(50, 1000, 0.05, {0.5, 20});
  const Interval more = proportion_interval(500, 10000, 0.05, {0.5, 20});
  EXPECT_LT(some.lower, 0.05);
  EXPECT_GT(some.upper, 0.05);
  EXPECT_LT(more.upper - more.lower, some.upper - some.lower);
  const RankInterval r = quantile_rank_interval(10, 0.95, 0.05, {190, 10});
  EXPECT_EQ(r.upper, 11u);  // ten samples cannot bound a P95 from above
}

TEST(ConfidenceSequence, SpendingSumsToAlpha) {
  double sum = 0;
  for (std::uint64_t i = 1; i < 100000; ++i) sum += spent_alpha(0.01, i);
  EXPECT_LT(sum, 0.01);
  EXPECT_GT(sum, 0.00999);
}

}  // namespace
}  // namespace canary::stats
