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

}  // namespace
}  // namespace canary
