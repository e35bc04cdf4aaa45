// SPDX-License-Identifier: Apache-2.0
// The absolute triggers' power over a long rollout (docs/statistics.md, "Change detection"): a
// canary at 10 requests a second (5% of 200) that breaks at some moment of a 6-hour rollout.
// Legacy breaks the same way at the same moment, so the comparisons against legacy see nothing
// and only the absolute triggers can act. 1,000 seeded runs per scenario, judged every second.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "simulation_runs.hpp"

namespace canary {
namespace {

using simulation::percentile;
using simulation::Rules;
using simulation::run_all;
using simulation::RunResult;
using simulation::Scenario;
using simulation::share;
using simulation::VersionModel;

constexpr std::uint64_t kSixHours = 6 * 3600;

Scenario rollout() {
  Scenario s;
  s.total_rate = 200;
  s.seconds = kSixHours;
  s.evaluate_gate = false;
  return s;
}

// Both versions go from healthy to `after` at a moment drawn from the whole rollout (or at
// `at`), and the run ends an hour after it.
Scenario breaks_to(VersionModel after, std::uint64_t at = 0, std::uint64_t by = kSixHours) {
  Scenario s = rollout();
  s.break_at = at;
  s.break_by = by;
  s.stop_after_break = 3600;
  s.canary_after = s.legacy_after = after;
  return s;
}

VersionModel errors(double rate) {
  VersionModel m;
  m.error_rate = rate;
  m.unavailable_rate = 0.002;  // the break is plain 500s
  return m;
}

VersionModel unavailable(double rate) {
  VersionModel m;
  m.error_rate = rate;
  m.unavailable_rate = rate;  // every error a 503
  return m;
}

std::vector<std::uint64_t> delays_s(const std::vector<RunResult>& runs) {
  std::vector<std::uint64_t> out;
  for (const RunResult& r : runs)
    if (r.rolled_back && r.rollback_second >= r.break_second) out.push_back(r.rollback_second - r.break_second);
  return out;
}

bool caught_within_s(const RunResult& r, std::uint64_t seconds) {
  return r.rolled_back && r.rollback_second >= r.break_second && r.rollback_second - r.break_second <= seconds;
}

void report_delays(const char* scenario, const std::vector<RunResult>& runs) {
  const auto d = delays_s(runs);
  std::printf("%-52s delay after the break (min): median %.1f, 90th %.1f, caught %zu of %zu\n", scenario,
              static_cast<double>(percentile(d, 0.5)) / 60, static_cast<double>(percentile(d, 0.9)) / 60, d.size(), runs.size());
}

TEST(ChangeDetection, SixPercentErrorsAgainstAFivePercentLimitIsCaughtWithinAnHour) {
  const auto runs = run_all(breaks_to(errors(0.06)), Rules::confidence_sequences, 11);
  report_delays("6% errors (limit 5%) at any time of 6 h", runs);
  const double caught = share(runs, [](const RunResult& r) { return caught_within_s(r, 3600); });
  std::printf("%-52s rolled back within 60 min of the break: %.1f%%\n", "", 100 * caught);
  EXPECT_GE(caught, 0.90);
}

TEST(ChangeDetection, TenPercentErrorsIsCaughtWithin2500Requests) {
  const auto runs = run_all(breaks_to(errors(0.10)), Rules::confidence_sequences, 12);
  std::vector<std::uint64_t> requests;
  for (const RunResult& r : runs)
    if (r.rolled_back && r.rollback_second >= r.break_second) requests.push_back(r.canary_requests_after_break);
  const double caught = share(runs, [](const RunResult& r) {
    return r.rolled_back && r.rollback_second >= r.break_second && r.canary_requests_after_break <= 2500;
  });
  std::printf("%-52s canary requests after the break: median %llu, 95th %llu; within 2,500: %.1f%%\n",
              "10% errors at any time of 6 h", static_cast<unsigned long long>(percentile(requests, 0.5)),
              static_cast<unsigned long long>(percentile(requests, 0.95)), 100 * caught);
  EXPECT_GE(caught, 0.95);
}

TEST(ChangeDetection, AvailabilityOf98Point5PercentIsCaughtWithinAnHour) {
  const auto runs = run_all(breaks_to(unavailable(0.015)), Rules::confidence_sequences, 13);
  report_delays("availability 98.5% (limit 99%) at any time of 6 h", runs);
  const double caught = share(runs, [](const RunResult& r) { return caught_within_s(r, 3600); });
  std::printf("%-52s rolled back within 60 min of the break: %.1f%%\n", "", 100 * caught);
  EXPECT_GE(caught, 0.90);
}

TEST(ChangeDetection, ALateBreakIsCaughtAsFastAsAnEarlyOne) {
  const auto early = delays_s(run_all(breaks_to(errors(0.06), 600, 600), Rules::confidence_sequences, 14));
  const auto late = delays_s(run_all(breaks_to(errors(0.06), 7200, 7200), Rules::confidence_sequences, 15));
  const double ratio = static_cast<double>(percentile(late, 0.5)) / static_cast<double>(percentile(early, 0.5));
  std::printf("%-52s median delay: break at 10 min %.1f min, at 2 h %.1f min: ratio %.2f\n", "6% errors",
              static_cast<double>(percentile(early, 0.5)) / 60, static_cast<double>(percentile(late, 0.5)) / 60, ratio);
  EXPECT_LE(ratio, 1.2);
}

// What rolled back, each trigger once: " [check window]...".
std::string triggers(const std::vector<RunResult>& runs) {
  std::map<std::string, int> n;
  for (const RunResult& r : runs)
    if (r.rolled_back) ++n[r.trigger];
  std::string out;
  for (const auto& [trigger, count] : n) out += " [" + trigger + ": " + std::to_string(count) + "]";
  return out;
}

TEST(ChangeDetection, ErrorBurstsAveragingHalfTheLimitAreAlmostNeverRolledBack) {
  // 10-second bursts of 50% errors starting on average every 250 s: 2.5% errors over the rollout,
  // half the 5% limit. The canary's alone, so the comparisons against legacy are off (it is worse
  // than legacy, inside its limits); 2 hours.
  Scenario s = rollout();
  s.seconds = 2 * 3600;
  s.burst_every_s = 250;
  s.burst_s = 10;
  s.burst_error_rate = 0.5;
  Policy policy;
  policy.rollback.when_gate_cannot_pass = false;
  const auto runs = run_all(s, Rules::confidence_sequences, 18, policy);
  const double rolled = share(runs, [](const RunResult& r) { return r.rolled_back; });
  std::printf("%-52s ever rolled back in 2 h: %.1f%%%s\n", "10-s bursts of 50% errors, 2.5% on average", 100 * rolled,
              triggers(runs).c_str());
  EXPECT_LE(rolled, 0.01);
}

TEST(ChangeDetection, HealthyCanariesAreAlmostNeverRolledBackOverSixHours) {
  const auto runs = run_all(rollout(), Rules::confidence_sequences, 16);
  const double rolled = share(runs, [](const RunResult& r) { return r.rolled_back; });
  std::printf("%-52s ever rolled back in 6 h: %.1f%%\n", "healthy (0.5% errors, 0.2% unavailable)", 100 * rolled);
  EXPECT_LE(rolled, 0.01);
}

TEST(ChangeDetection, CanariesExactlyAtTheLimitsAreAlmostNeverRolledBackOverSixHours) {
  // 5% errors, 99% availability, and a P95 of exactly 2,000 ms (median 879 ms, sigma 0.5).
  Scenario s = rollout();
  for (VersionModel* m : {&s.canary, &s.legacy}) {
    m->error_rate = 0.05;
    m->unavailable_rate = 0.01;
    m->median_ms = 2000 / std::exp(0.5 * simulation::normal_quantile(0.95));
  }
  const auto runs = run_all(s, Rules::confidence_sequences, 17);
  const double rolled = share(runs, [](const RunResult& r) { return r.rolled_back; });
  std::printf("%-52s ever rolled back in 6 h: %.1f%%\n", "exactly at every limit (5%, 99%, P95 2,000 ms)", 100 * rolled);
  EXPECT_LE(rolled, 0.01);
}

}  // namespace
}  // namespace canary
