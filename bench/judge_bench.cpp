// SPDX-License-Identifier: Apache-2.0
// What one judgement costs the aggregator every interval, and the confidence sequence under it:
// a proportion's interval bisects the mixture 60 times on each side; the mixture's marginal (two
// log-beta terms) does not depend on p, so it is computed once (BM_ProportionInterval), against
// the same bisection evaluating the whole mixture at each step (BM_ProportionIntervalWholeMixture,
// the baseline).
#include <benchmark/benchmark.h>

#include <cmath>

#include "canary/decision/judge.hpp"
#include "canary/stats/confidence_sequence.hpp"

namespace canary::bench {
namespace {

constexpr stats::BetaPrior kPrior{0.5, 20};

void BM_ProportionInterval(benchmark::State& state) {
  std::uint64_t k = 50;
  for (auto _ : state) {
    benchmark::DoNotOptimize(stats::proportion_interval(k, 10'000, 0.0005, kPrior));
    k = k == 50 ? 51 : 50;
  }
}
BENCHMARK(BM_ProportionInterval);

void BM_ProportionIntervalWholeMixture(benchmark::State& state) {
  std::uint64_t k = 50;
  for (auto _ : state) {
    const double limit = std::log(1 / 0.0005);
    const double estimate = static_cast<double>(k) / 10'000;
    auto crossing = [&](double inside, double outside) {
      for (int i = 0; i < 60; ++i) {
        const double mid = (inside + outside) / 2;
        (stats::log_mixture_ratio(k, 10'000, mid, kPrior) < limit ? inside : outside) = mid;
      }
      return inside;
    };
    benchmark::DoNotOptimize(stats::Interval{crossing(estimate, 0), crossing(estimate, 1)});
    k = k == 50 ? 51 : 50;
  }
}
BENCHMARK(BM_ProportionIntervalWholeMixture);

// The aggregator's judgement of one interval: the step and the rolling window, 7 endpoint strata,
// every bound computed (the status page shows them all).
void BM_JudgeEveryBound(benchmark::State& state) {
  const Policy policy;
  Evidence step, recent;
  for (Evidence* e : {&step, &recent}) {
    e->canary.requests = 5'000, e->canary.errors = 30, e->canary.unavailable = 10;
    e->legacy.requests = 95'000, e->legacy.errors = 480, e->legacy.unavailable = 190;
    for (int i = 0; i < 7; ++i)
      e->strata.push_back({"/endpoint/" + std::to_string(i), 700, 4, 13'000, 70, 1.2});
  }
  recent.window = "rolling";
  for (auto _ : state) benchmark::DoNotOptimize(judge(policy, step, &recent));
}
BENCHMARK(BM_JudgeEveryBound)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace canary::bench
