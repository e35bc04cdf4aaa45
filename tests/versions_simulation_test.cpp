// SPDX-License-Identifier: Apache-2.0
// Three candidates judged at once, each against the baseline by its own engine at a third of the
// policy's alpha (candidate_policy, as the aggregator does): the deployment's error rates, by
// simulation. 1,000 seeded deployments per case; figures in docs/statistics.md.
//
// Each candidate's run draws its own baseline stream: Bonferroni's bound needs no independence,
// and the aggregator's candidates share the baseline's data, which the union bound covers too.
#include <gtest/gtest.h>

#include "simulation_runs.hpp"
#include "simulation_scenarios.hpp"

namespace canary {
namespace {

using simulation::median;
using simulation::Rules;
using simulation::run_all;
using simulation::RunResult;
using simulation::broken;
using simulation::healthy;

constexpr int kCandidates = 3;

TEST(VersionsSimulation, ThreeCandidatesKeepTheDeploymentsErrorRatesAndABadOneIsCaughtAlone) {
  const Policy policy = candidate_policy(Policy{}, kCandidates);
  // 3,000 healthy candidate runs: deployment i holds runs 3i, 3i+1, 3i+2.
  const auto healthy_runs = run_all(healthy(), Rules::confidence_sequences, 31, policy, kCandidates * simulation::kRuns);
  int any_rolled_back = 0, others_touched = 0;
  for (int d = 0; d < simulation::kRuns; ++d) {
    bool any = false;
    for (int k = 0; k < kCandidates; ++k) any = any || healthy_runs[static_cast<std::size_t>(kCandidates * d + k)].rolled_back;
    any_rolled_back += any ? 1 : 0;
    // With one bad candidate, the other two are runs 3d+1 and 3d+2.
    others_touched += healthy_runs[static_cast<std::size_t>(kCandidates * d + 1)].rolled_back ||
                              healthy_runs[static_cast<std::size_t>(kCandidates * d + 2)].rolled_back
                          ? 1
                          : 0;
  }
  const auto bad = run_all(broken(), Rules::confidence_sequences, 32, policy);
  std::vector<std::uint64_t> needed;
  int caught = 0;
  for (const RunResult& r : bad)
    if (r.rolled_back) {
      ++caught;
      needed.push_back(r.rollback_canary_requests);
    }
  const double any_share = static_cast<double>(any_rolled_back) / simulation::kRuns;
  const double caught_share = static_cast<double>(caught) / simulation::kRuns;
  const double untouched_share = 1 - static_cast<double>(others_touched) / simulation::kRuns;
  std::printf("three healthy candidates, an hour: a deployment rolled any back in %.1f%%\n", 100 * any_share);
  std::printf("one bad (5.5%% errors) among three: caught within 2,000 of its requests in %.1f%% (median %llu); "
              "the healthy two untouched in %.1f%%\n",
              100 * caught_share, static_cast<unsigned long long>(median(needed)), 100 * untouched_share);
  EXPECT_LE(any_share, 0.01);
  EXPECT_GE(caught_share, 0.99);
  EXPECT_GE(untouched_share, 0.99);
}

}  // namespace
}  // namespace canary
