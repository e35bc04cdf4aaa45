// SPDX-License-Identifier: Apache-2.0
// The decision statistics, proven by simulation: 1,000 seeded runs per scenario, decisions checked
// every (simulated) second, next to the seed's plain rules measured the same way. The figures it
// prints are the ones in docs/statistics.md.
#include <gtest/gtest.h>

#include "simulation_runs.hpp"
#include "simulation_scenarios.hpp"

namespace canary {
namespace {

using simulation::median;
using simulation::Rules;
using simulation::run_all;
using simulation::RunResult;
using simulation::Scenario;
using simulation::share;
using simulation::healthy;
using simulation::broken;

Scenario slightly_worse() {
  Scenario s = healthy();
  s.canary.error_rate = 0.007;
  s.canary.unavailable_rate = 0.0028;
  s.canary.median_ms *= 1.05;  // every quantile, P95 included, 5% slower
  return s;
}

Scenario slow(double factor = 1.3) {
  Scenario s;
  s.canary.median_ms *= factor;
  return s;
}

Scenario healthy_to_promote() {
  Scenario s;
  s.stop_after_canary = 10000;
  s.seconds = 12 * 3600;  // at 1 canary request a second, 10,000 take almost 3 hours
  return s;
}

// Heavy-tailed latency, the same for both versions: lognormal sigma 1.0, the slowest 10% a
// Pareto tail of shape 1.5 (infinite variance).
Scenario heavy_tailed_to_promote() {
  Scenario s = healthy_to_promote();
  for (simulation::VersionModel* m : {&s.legacy, &s.canary}) {
    m->sigma = 1.0;
    m->pareto_shape = 1.5;
  }
  return s;
}

// The slowest 2% of the canary's requests three times slower: its P99 three times legacy's, its
// P95 unchanged; 400 requests a second (20 canary requests a second), up to 20,000 canary requests.
Scenario slower_tail() {
  Scenario s;
  s.canary.slowest_two_percent_factor = 3;
  s.total_rate = 400;
  s.stop_after_canary = 20000;
  s.seconds = 3600;
  return s;
}

Policy with_p99_checks() {
  Policy p;
  p.gate.max_p99_increase = 0.5;
  p.rollback.max_p99_ms = 5000;
  return p;
}

void report(const char* scenario, const char* measure, double judged, double plain) {
  std::printf("%-45s %-42s judged %6.1f%%   seed's plain rules %6.1f%%\n", scenario, measure, 100 * judged, 100 * plain);
}

TEST(DecisionSimulation, AHealthyCanaryIsAlmostNeverRolledBack) {
  const auto judged = run_all(healthy(), Rules::confidence_sequences, 1);
  const auto plain = run_all(healthy(), Rules::seed_plain, 1);
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  report("healthy (= legacy, 0.5% errors, 0.2% unavail.)", "ever rolled back within the hour", share(judged, rolled), share(plain, rolled));
  EXPECT_LE(share(judged, rolled), 0.01);
}

TEST(DecisionSimulation, ACanaryInsideTheSloIsAlmostNeverRolledBack) {
  const auto judged = run_all(slightly_worse(), Rules::confidence_sequences, 2);
  const auto plain = run_all(slightly_worse(), Rules::seed_plain, 2);
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  report("0.2 points worse, P95 5% slower", "ever rolled back within the hour", share(judged, rolled), share(plain, rolled));
  EXPECT_LE(share(judged, rolled), 0.01);
}

TEST(DecisionSimulation, ABrokenCanaryIsRolledBackWithin2000CanaryRequests) {
  const auto judged = run_all(broken(), Rules::confidence_sequences, 3);
  const auto plain = run_all(broken(), Rules::seed_plain, 3);
  const auto caught = [](const RunResult& r) { return r.rolled_back && r.rollback_canary_requests <= 2000; };
  std::vector<std::uint64_t> when;
  for (const RunResult& r : judged)
    if (r.rolled_back) when.push_back(r.rollback_canary_requests);
  report("5.5% errors against legacy 0.1%", "rolled back within 2,000 canary requests", share(judged, caught), share(plain, caught));
  std::printf("%-45s median canary requests before the rollback: %llu\n", "", static_cast<unsigned long long>(median(when)));
  EXPECT_GE(share(judged, caught), 0.99);
}

TEST(DecisionSimulation, ACanaryWithA30PercentSlowerP95IsKeptFromPromotion) {
  const auto judged = run_all(slow(), Rules::confidence_sequences, 4);
  const auto plain = run_all(slow(), Rules::seed_plain, 4);
  const auto kept = [](const RunResult& r) { return !r.gate_held; };
  report("P95 30% slower", "never allowed to promote (within the hour)", share(judged, kept), share(plain, kept));
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  report("", "rolled back (proven outside the gate)", share(judged, rolled), share(plain, rolled));
  EXPECT_GE(share(judged, kept), 0.99);
}

TEST(DecisionSimulation, ACanaryWithA20PercentSlowerP95IsKeptFromPromotion) {
  const auto judged = run_all(slow(1.2), Rules::confidence_sequences, 9, Policy{}, 400);
  const auto kept = [](const RunResult& r) { return !r.gate_held; };
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  std::printf("%-45s %-42s %6.1f%%\n", "P95 20% slower (400 runs)", "never allowed to promote (within the hour)",
              100 * share(judged, kept));
  std::printf("%-45s %-42s %6.1f%%\n", "", "rolled back (proven outside the gate)", 100 * share(judged, rolled));
  EXPECT_GE(share(judged, kept), 0.99);
}

TEST(DecisionSimulation, AHealthyCanaryMayBePromotedWithin10000CanaryRequests) {
  const auto judged = run_all(healthy_to_promote(), Rules::confidence_sequences, 5);
  const auto plain = run_all(healthy_to_promote(), Rules::seed_plain, 5);
  const auto allowed = [](const RunResult& r) { return r.gate_held && !r.rolled_back; };
  std::vector<std::uint64_t> when;
  for (const RunResult& r : judged)
    if (r.gate_held) when.push_back(r.gate_canary_requests);
  report("healthy", "promotion allowed within 10,000 canary req.", share(judged, allowed), share(plain, allowed));
  std::printf("%-45s median canary requests before the gate held: %llu\n", "", static_cast<unsigned long long>(median(when)));
  EXPECT_GE(share(judged, allowed), 0.95);
}

TEST(DecisionSimulation, AHealthyCanaryWithHeavyTailedLatencyMayBePromoted) {
  const auto judged = run_all(heavy_tailed_to_promote(), Rules::confidence_sequences, 6);
  const auto plain = run_all(heavy_tailed_to_promote(), Rules::seed_plain, 6);
  Scenario exact = heavy_tailed_to_promote();
  exact.latency_relative_error = 0;
  const auto unwidened = run_all(exact, Rules::confidence_sequences, 6);
  const auto allowed = [](const RunResult& r) { return r.gate_held && !r.rolled_back; };
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  std::vector<std::uint64_t> when;
  for (const RunResult& r : judged)
    if (r.gate_held) when.push_back(r.gate_canary_requests);
  report("healthy, heavy tail (sigma 1.0, Pareto 1.5)", "promotion allowed within 10,000 canary req.", share(judged, allowed),
         share(plain, allowed));
  report("", "ever rolled back", share(judged, rolled), share(plain, rolled));
  std::printf("%-45s median canary requests before the gate held: %llu\n", "", static_cast<unsigned long long>(median(when)));
  std::printf("%-45s without the widening (exact order statistics): %.1f%%\n", "", 100 * share(unwidened, allowed));
  EXPECT_LE(share(judged, rolled), 0.01);
  // No target: the power heavy tails leave, measured (docs/statistics.md). A floor under the
  // measured 16.1% catches a regression; the widening may cost little against exact bounds.
  EXPECT_GE(share(judged, allowed), 0.12);
  EXPECT_GE(share(judged, allowed), share(unwidened, allowed) - 0.05);
}

// 400 runs each: the P99 checks are judged on top of every other check, at 20,000 canary requests.
constexpr int kP99Runs = 400;

TEST(DecisionSimulation, ASlowerTailWithTheSameP95IsCaughtByTheP99Check) {
  const auto judged = run_all(slower_tail(), Rules::confidence_sequences, 7, with_p99_checks(), kP99Runs);
  const auto p95_only = run_all(slower_tail(), Rules::confidence_sequences, 7, Policy{}, kP99Runs);
  const auto stopped = [](const RunResult& r) { return r.rolled_back || !r.gate_held; };
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  std::vector<std::uint64_t> when;
  for (const RunResult& r : judged)
    if (r.rolled_back) when.push_back(r.rollback_canary_requests);
  std::printf("%-45s %-42s %6.1f%% (P95 checks alone: %.1f%%)\n", "slowest 2% 3x slower (P99 x3, P95 the same)",
              "rolled back or held, 20,000 canary req.", 100 * share(judged, stopped), 100 * share(p95_only, stopped));
  std::printf("%-45s %-42s %6.1f%% (P95 checks alone: %.1f%%), median after %llu canary requests\n", "", "rolled back",
              100 * share(judged, rolled), 100 * share(p95_only, rolled), static_cast<unsigned long long>(median(when)));
  EXPECT_GE(share(judged, stopped), 0.95);
  EXPECT_GE(share(judged, rolled), 0.95);
}

TEST(DecisionSimulation, AHealthyCanaryIsAlmostNeverRolledBackByTheP99Checks) {
  Scenario s = slower_tail();
  s.canary.slowest_two_percent_factor = 1;
  const auto judged = run_all(s, Rules::confidence_sequences, 8, with_p99_checks(), kP99Runs);
  const auto rolled = [](const RunResult& r) { return r.rolled_back; };
  const auto allowed = [](const RunResult& r) { return r.gate_held && !r.rolled_back; };
  std::vector<std::uint64_t> when;
  for (const RunResult& r : judged)
    if (r.gate_held) when.push_back(r.gate_canary_requests);
  std::printf("%-45s %-42s %6.1f%%\n", "healthy, P99 checks on", "ever rolled back (20,000 canary req.)", 100 * share(judged, rolled));
  std::printf("%-45s %-42s %6.1f%%, median after %llu canary requests\n", "", "promotion allowed", 100 * share(judged, allowed),
              static_cast<unsigned long long>(median(when)));
  EXPECT_LE(share(judged, rolled), 0.01);
  EXPECT_GE(share(judged, allowed), 0.90);
}

}  // namespace
}  // namespace canary
