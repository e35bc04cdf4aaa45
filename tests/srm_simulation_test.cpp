// SPDX-License-Identifier: Apache-2.0
// The sample-ratio-mismatch test (docs/statistics.md, "Sample-ratio mismatch"), simulated on the
// users it counts: every second brings Poisson-many new users (each counted once, at their first
// request), each routed to the canary with the share in force; the test is read every second.
// 1,000 seeded runs per scenario, 200 requests a second (the canary's 10 at 5%).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "canary/decision/sample_ratio.hpp"
#include "simulation_runs.hpp"

namespace canary {
namespace {

using simulation::kRuns;
using simulation::percentile;

struct SplitRun {
  bool flagged = false;
  std::uint64_t canary_requests = 0;  // when flagged, or in all
};

// The overall test's level: half the family's alpha.
const double kLevel = std::log(2 / SampleRatioCheck::kAlpha);

// share_at(t): the configured share at second t; routed(p): the share the router really uses;
// kept: the share of the canary's users whose requests reach the aggregator.
template <class ShareAt>
SplitRun run(std::uint64_t seed, std::uint64_t seconds, std::uint64_t stop_after_canary, ShareAt share_at, double routed_factor,
             double kept) {
  std::mt19937_64 rng(seed);
  std::poisson_distribution<std::uint64_t> users(200);
  stats::SplitTest test;
  SplitRun r;
  for (std::uint64_t t = 0; t < seconds && r.canary_requests < stop_after_canary; ++t) {
    const double p = share_at(t);
    const std::uint64_t n = users(rng);
    const std::uint64_t canary = std::binomial_distribution<std::uint64_t>(n, std::min(1.0, p * routed_factor))(rng);
    const std::uint64_t seen = kept < 1 ? std::binomial_distribution<std::uint64_t>(canary, kept)(rng) : canary;
    r.canary_requests += canary;
    test.add(p, n - canary + seen, seen);
    if (test.log_evidence() >= kLevel) {
      r.flagged = true;
      return r;
    }
  }
  return r;
}

template <class Run>
std::vector<SplitRun> run_all(std::uint64_t seed, Run one) {
  std::vector<SplitRun> out(kRuns);
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < std::max(2u, std::thread::hardware_concurrency()); ++w)
    workers.emplace_back([&] {
      for (int i; (i = next++) < kRuns;) out[static_cast<std::size_t>(i)] = one(seed * 100003 + static_cast<std::uint64_t>(i));
    });
  for (auto& t : workers) t.join();
  return out;
}

double share_flagged(const std::vector<SplitRun>& runs) {
  return static_cast<double>(std::count_if(runs.begin(), runs.end(), [](const SplitRun& r) { return r.flagged; })) /
         static_cast<double>(runs.size());
}

TEST(SampleRatioSimulation, CorrectRoutingThroughEveryRampStepIsAlmostNeverFlagged) {
  // 5%, 10%, 25%, 50% for 90 minutes each: 6 hours.
  const auto runs = run_all(31, [](std::uint64_t seed) {
    return run(seed, 6 * 3600, UINT64_MAX, [](std::uint64_t t) { return std::array{0.05, 0.10, 0.25, 0.50}[t / 5400]; }, 1.0, 1.0);
  });
  std::printf("%-52s flagged in 6 h: %d of %d runs\n", "correct routing, ramp 5-10-25-50%",
              static_cast<int>(share_flagged(runs) * kRuns), kRuns);
  EXPECT_LE(share_flagged(runs) * kRuns, 3);
}

TEST(SampleRatioSimulation, ARouterSending7PercentInsteadOf5IsFlaggedWithin2000CanaryRequests) {
  const auto runs = run_all(32, [](std::uint64_t seed) { return run(seed, 3600, 2000, [](std::uint64_t) { return 0.05; }, 1.4, 1.0); });
  std::vector<std::uint64_t> when;
  for (const SplitRun& r : runs)
    if (r.flagged) when.push_back(r.canary_requests);
  std::printf("%-52s flagged within 2,000 canary requests: %.1f%% (median %llu)\n", "7% routed, 5% configured",
              100 * share_flagged(runs), static_cast<unsigned long long>(percentile(when, 0.5)));
  EXPECT_GE(share_flagged(runs), 0.99);
}

TEST(SampleRatioSimulation, ACanaryWhoseRecordsVanishIsFlaggedWithin60000CanaryRequests) {
  // 3% of the canary's users never reach the aggregator (their requests fail unrecorded).
  const auto runs = run_all(33, [](std::uint64_t seed) { return run(seed, 24 * 3600, 60000, [](std::uint64_t) { return 0.05; }, 1.0, 0.97); });
  std::vector<std::uint64_t> when;
  for (const SplitRun& r : runs)
    if (r.flagged) when.push_back(r.canary_requests);
  std::printf("%-52s flagged within 60,000 canary requests: %.1f%% (median %llu)\n", "3% of the canary's requests vanish",
              100 * share_flagged(runs), static_cast<unsigned long long>(percentile(when, 0.5)));
  EXPECT_GE(share_flagged(runs), 0.90);
}

}  // namespace
}  // namespace canary
