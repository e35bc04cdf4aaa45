// SPDX-License-Identifier: Apache-2.0
// Per-endpoint judgement (docs/statistics.md, "Endpoints"): a canary bad on one endpoint of seven
// is diluted in the version totals; judged on its own, with the alpha split over the endpoints,
// it is caught early and named. 1,000 seeded runs, canary at 10 requests a second, judged every
// second.
#include <gtest/gtest.h>

#include <cstdio>

#include "simulation_runs.hpp"

namespace canary {
namespace {

using simulation::EndpointModel;
using simulation::percentile;
using simulation::Rules;
using simulation::run_all;
using simulation::RunResult;
using simulation::Scenario;
using simulation::share;

// Seven endpoints; the fourth takes 10% of the traffic.
Scenario seven_endpoints(double canary_error_rate_of_the_fourth) {
  Scenario s;
  s.total_rate = 200;
  s.evaluate_gate = false;
  s.endpoints.assign(7, EndpointModel{0.15, 0.005, 0.005});
  s.endpoints[3] = EndpointModel{0.10, canary_error_rate_of_the_fourth, 0.005};
  return s;
}

TEST(EndpointJudgement, ACanaryBadOnOneEndpointOfSevenIsRolledBackWithin5000Requests) {
  Scenario s = seven_endpoints(0.08);
  s.stop_after_canary = 5000;
  s.seconds = 3600;
  const auto runs = run_all(s, Rules::confidence_sequences, 21);
  std::vector<std::uint64_t> when;
  for (const RunResult& r : runs)
    if (r.rolled_back) when.push_back(r.rollback_canary_requests);
  const double caught = share(runs, [](const RunResult& r) { return r.rolled_back && r.rollback_canary_requests <= 5000; });
  const double named = share(runs, [](const RunResult& r) { return r.rolled_back && r.trigger.find("/endpoint/3") != std::string::npos; });
  std::printf("%-52s rolled back within 5,000 canary requests: %.1f%% (median %llu), naming the endpoint: %.1f%%\n",
              "8% errors on 1 endpoint of 7 (10% of traffic)", 100 * caught,
              static_cast<unsigned long long>(percentile(when, 0.5)), 100 * named);
  EXPECT_GE(caught, 0.95);
  EXPECT_GE(named, 0.95);
}

TEST(EndpointJudgement, AHealthyCanaryOnSevenEndpointsIsAlmostNeverRolledBack) {
  Scenario s = seven_endpoints(0.005);
  s.seconds = 3600;
  const auto runs = run_all(s, Rules::confidence_sequences, 22);
  const double rolled = share(runs, [](const RunResult& r) { return r.rolled_back; });
  std::printf("%-52s ever rolled back within the hour: %.1f%%\n", "healthy on 7 endpoints", 100 * rolled);
  EXPECT_LE(rolled, 0.01);
}

// The canary enabled on 2 of 7 endpoints, the two that differ from the rest (3% errors on both
// versions, against 0.1% on the five others); on each endpoint it is exactly as good as legacy.
// Errors only (no unavailable responses): 3% errors on its own traffic is within the absolute
// limits, so only the comparisons with legacy could roll it back.
Scenario canary_on_two_of_seven(double canary_error_rate_on_them) {
  Scenario s;
  s.canary.unavailable_rate = s.legacy.unavailable_rate = 0;
  s.total_rate = 400;
  s.seconds = 3600;
  s.evaluate_gate = false;
  s.endpoints.assign(7, EndpointModel{0.16, 0.001, 0.001, 0});
  for (std::size_t e : {5u, 6u}) s.endpoints[e] = EndpointModel{0.10, canary_error_rate_on_them, 0.03, 0.5};
  return s;
}

TEST(EndpointJudgement, AHealthyCanaryOnTwoOfSevenEndpointsIsComparedWithLegacyThereOnly) {
  const auto runs = run_all(canary_on_two_of_seven(0.03), Rules::confidence_sequences, 23, Policy{}, 400);
  Scenario pooled_scenario = canary_on_two_of_seven(0.03);
  pooled_scenario.stratified = false;
  const auto pooled = run_all(pooled_scenario, Rules::confidence_sequences, 23, Policy{}, 200);
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  std::printf("%-52s ever rolled back within the hour: %.1f%% (pooled comparisons: %.1f%% of 200)\n",
              "healthy, canary on the 2 of 7 endpoints at 3% (400 runs)", 100 * share(runs, rolled), 100 * share(pooled, rolled));
  for (const RunResult& r : runs)
    if (r.rolled_back) std::printf("  rolled back by %s\n", r.trigger.c_str());
  EXPECT_LE(share(runs, rolled), 0.01);
  EXPECT_GE(share(pooled, rolled), 0.9) << "the trap this avoids";
}

TEST(EndpointJudgement, ACanaryWorseWhereItRunsIsStillCaught) {
  Scenario s = canary_on_two_of_seven(0.06);  // 3 points worse than legacy on its endpoints
  s.stop_after_canary = 20000;
  const auto runs = run_all(s, Rules::confidence_sequences, 24, Policy{}, 400);
  std::vector<std::uint64_t> when;
  for (const RunResult& r : runs)
    if (r.rolled_back) when.push_back(r.rollback_canary_requests);
  const double caught = share(runs, [](const RunResult& r) { return r.rolled_back; });
  std::printf("%-52s rolled back within 20,000 canary requests: %.1f%% (median %llu)\n", "6% against legacy's 3% on its 2 endpoints (400 runs)",
              100 * caught, static_cast<unsigned long long>(percentile(when, 0.5)));
  EXPECT_GE(caught, 0.95);
}

}  // namespace
}  // namespace canary
