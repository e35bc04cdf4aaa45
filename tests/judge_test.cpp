// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cmath>

#include "canary/decision/judge.hpp"

namespace canary {
namespace {

// Latencies spread evenly from `low` to `high` ms: the quantile at a rank fraction is exact.
VersionEvidence version(std::uint64_t requests, std::uint64_t errors, std::uint64_t unavailable, double low, double high) {
  VersionEvidence v;
  v.requests = requests;
  v.errors = errors;
  v.unavailable = unavailable;
  v.latency_samples = requests;
  v.latency_at = [low, high](double f) { return low + (high - low) * f; };
  return v;
}

Evidence evidence(VersionEvidence canary, VersionEvidence legacy) { return {std::move(canary), std::move(legacy), 1, "step", {}}; }

const Check& find(const std::vector<Check>& checks, const std::string& name) {
  for (const Check& c : checks)
    if (c.name == name) return c;
  throw std::runtime_error("no check " + name);
}

TEST(Judge, AClearlyBrokenCanaryIsRolledBackAndNamed) {
  const Policy policy;
  const Evidence e = evidence(version(2000, 200, 10, 100, 300), version(38000, 38, 10, 100, 300));
  const Judgement j = judge(policy, e, nullptr);
  EXPECT_TRUE(j.rollback);
  EXPECT_FALSE(j.gate_holds);
  EXPECT_TRUE(find(j.triggers, "canary_error_rate").holds);     // 10% > 5%
  EXPECT_TRUE(find(j.triggers, "error_rate_increase").holds);   // 9.9 points > 0.5
  EXPECT_FALSE(find(j.triggers, "canary_p95_ms").holds);
  const Check& rate = find(j.triggers, "canary_error_rate");
  EXPECT_NEAR(rate.value, 10, 1e-9);
  EXPECT_GT(rate.bound, 5);
  EXPECT_LT(rate.bound, 10);
  EXPECT_EQ(rate.canary_samples, 2000u);
  EXPECT_NE(rate.test.find("alpha"), std::string::npos);
}

// Latencies evenly from 100 to 300 ms, but the slowest 2% `factor` times slower (the P99 moves,
// the P95 does not).
VersionEvidence with_tail(std::uint64_t requests, double factor) {
  VersionEvidence v = version(requests, 0, 0, 100, 300);
  v.latency_at = [factor](double f) { return (100 + 200 * f) * (f > 0.98 ? factor : 1); };
  return v;
}

TEST(Judge, TheP99IsJudgedOnlyWhenThePolicyNamesItAndItsChecksSayP99) {
  const Evidence e = evidence(with_tail(20000, 3), with_tail(380000, 1));
  Policy policy;
  Judgement j = judge(policy, e, nullptr);
  for (const auto* checks : {&j.triggers, &j.gate})
    for (const Check& c : *checks) EXPECT_EQ(c.name.find("p99"), std::string::npos) << c.name;
  EXPECT_FALSE(j.rollback) << "the P95 is the same: nothing else sees the tail";

  policy.gate.max_p99_increase = 0.5;
  policy.rollback.max_p99_ms = 800;
  j = judge(policy, e, nullptr);
  const Check& increase = find(j.triggers, "p99_increase");
  EXPECT_NEAR(increase.value, 2, 0.05);  // ~900 ms against ~300 ms
  EXPECT_GT(increase.bound, 0.5);
  EXPECT_TRUE(increase.holds);
  EXPECT_NE(increase.test.find("P99"), std::string::npos) << increase.test;
  EXPECT_TRUE(find(j.triggers, "canary_p99_ms").holds);  // ~900 ms proven above 800
  EXPECT_EQ(find(j.triggers, "canary_p99_ms").unit, CheckUnit::milliseconds);
  EXPECT_FALSE(find(j.gate, "p99_increase").holds);
  EXPECT_TRUE(j.rollback);
  EXPECT_FALSE(j.gate_holds);

  // The same tail on both: the P99 checks hold the gate and stay quiet.
  const Evidence same = evidence(with_tail(20000, 3), with_tail(380000, 3));
  j = judge(policy, same, nullptr);
  EXPECT_FALSE(find(j.triggers, "p99_increase").holds);
  EXPECT_TRUE(find(j.gate, "p99_increase").holds);
}

// Seven endpoints: five fast ones at 0.1% errors, two slow ones at 3% (a search, an export); the
// canary is enabled on the two slow ones only (`each` requests on each) and gets a sixth of
// their traffic.
Evidence canary_on_two_of_seven(double canary_error_rate, std::uint64_t each) {
  Evidence e;
  e.window = "step";
  for (int i = 0; i < 7; ++i) {
    const bool slow = i >= 5;
    Stratum s;
    s.name = "/e" + std::to_string(i);
    s.legacy_requests = each * (slow ? 5 : 15);
    s.legacy_errors = slow ? s.legacy_requests * 3 / 100 : s.legacy_requests / 1000;
    s.canary_requests = slow ? each : 0;
    s.canary_errors = slow ? static_cast<std::uint64_t>(static_cast<double>(each) * canary_error_rate) : 0;
    e.legacy.requests += s.legacy_requests;
    e.legacy.errors += s.legacy_errors;
    e.canary.requests += s.canary_requests;
    e.canary.errors += s.canary_errors;
    e.strata.push_back(s);
  }
  return e;
}

TEST(Judge, ComparisonsAreBetweenLikeAndLikeWhenTheEvidenceHasStrata) {
  const Policy policy;
  // As good as legacy on each endpoint; 50,000 canary requests on each, enough to prove the gate.
  Evidence e = canary_on_two_of_seven(0.03, 50000);
  const std::vector<Stratum> strata = e.strata;
  e.strata.clear();
  Judgement pooled = judge(policy, e, nullptr);
  EXPECT_TRUE(find(pooled.triggers, "error_rate_increase").holds) << "3% against a pooled 0.73%: the trap";
  e.strata = strata;
  Judgement stratified = judge(policy, e, nullptr);
  const Check& increase = find(stratified.triggers, "error_rate_increase");
  EXPECT_NEAR(increase.value, 0, 1e-9) << "3% against legacy's 3% on the same two endpoints";
  EXPECT_FALSE(increase.holds);
  EXPECT_FALSE(stratified.rollback);
  EXPECT_NE(increase.test.find("mix of strata"), std::string::npos);
  EXPECT_TRUE(find(stratified.gate, "error_rate_increase").holds) << "no worse than legacy where it runs: proven";

  // Worse where it runs (5% against 3%): still caught, with 20,000 on each.
  Judgement worse = judge(policy, canary_on_two_of_seven(0.05, 20000), nullptr);
  EXPECT_NEAR(find(worse.triggers, "error_rate_increase").value, 2, 1e-9);
  EXPECT_TRUE(find(worse.triggers, "error_rate_increase").holds);
  EXPECT_FALSE(find(worse.gate, "error_rate_increase").holds);
}

TEST(Judge, AnIncidentThatHitsLegacyTooIsNamedAndHeldWhenThePolicySaysSo) {
  // Both versions at 20% errors: the absolute trigger holds for the canary, and for legacy too.
  const Evidence incident = evidence(version(2000, 400, 400, 100, 300), version(38000, 7600, 7600, 100, 300));
  Policy policy;
  Judgement j = judge(policy, incident, nullptr);
  EXPECT_TRUE(j.rollback);  // the seed's rule: roll back anyway
  EXPECT_TRUE(j.first_trigger()->legacy_also_breaches);
  EXPECT_FALSE(j.first_trigger()->held_for_legacy);

  policy.rollback.when_legacy_also_breaches = RollbackPolicy::WhenLegacyAlsoBreaches::hold;
  j = judge(policy, incident, nullptr);
  EXPECT_FALSE(j.rollback);  // no worse than legacy: kept
  EXPECT_FALSE(j.gate_holds);  // but not let through either
  EXPECT_TRUE(find(j.triggers, "canary_error_rate").held_for_legacy);
  EXPECT_TRUE(find(j.triggers, "canary_availability").held_for_legacy);

  // A canary far worse than legacy in the incident is still rolled back by the relative check.
  j = judge(policy, evidence(version(2000, 1000, 400, 100, 300), version(38000, 7600, 7600, 100, 300)), nullptr);
  EXPECT_TRUE(j.rollback);
  EXPECT_EQ(j.first_trigger()->name, "error_rate_increase");
  // And a canary that breaches alone is rolled back as ever.
  j = judge(policy, evidence(version(2000, 400, 400, 100, 300), version(38000, 38, 10, 100, 300)), nullptr);
  EXPECT_TRUE(j.rollback);
  EXPECT_FALSE(j.first_trigger()->legacy_also_breaches);
}

TEST(Judge, P95BoundsAreWidenedByTheQuantileEstimatesError) {
  const Policy policy;
  VersionEvidence canary = version(20000, 100, 40, 100, 300), legacy = version(380000, 1900, 760, 100, 300);
  const Judgement exact = judge(policy, evidence(canary, legacy), nullptr);
  canary.latency_relative_error = legacy.latency_relative_error = 0.0025;
  const Judgement widened = judge(policy, evidence(canary, legacy), nullptr);
  const Check& e = find(exact.triggers, "canary_p95_ms");
  const Check& w = find(widened.triggers, "canary_p95_ms");
  EXPECT_NEAR(w.bound, e.bound * (1 - 0.0025), 1e-9);  // the lower bound moves down
  // The gate's ratio: canary upper x 1.0025 over legacy lower x 0.9975.
  const double ratio_exact = 1 + find(exact.gate, "p95_increase").bound;
  const double ratio_widened = 1 + find(widened.gate, "p95_increase").bound;
  EXPECT_NEAR(ratio_widened, ratio_exact * 1.0025 / 0.9975, 1e-9);
}

TEST(Judge, AHandfulOfRequestsProvesNothing) {
  const Policy policy;
  // 1 error in 3 requests: 33% on paper, far too little to roll back on.
  const Judgement j = judge(policy, evidence(version(3, 1, 1, 100, 300), version(57, 0, 0, 100, 300)), nullptr);
  EXPECT_FALSE(j.rollback);
  EXPECT_FALSE(j.gate_holds);
  EXPECT_FALSE(find(j.gate, "canary_requests").holds);
}

TEST(Judge, AHealthyCanaryWithEnoughDataPassesTheGate) {
  const Policy policy;
  const Judgement j = judge(policy, evidence(version(20000, 100, 40, 100, 300), version(380000, 1900, 760, 100, 300)), nullptr);
  EXPECT_FALSE(j.rollback);
  for (const Check& c : j.gate) EXPECT_TRUE(c.holds) << c.name << " bound " << c.bound;
  EXPECT_TRUE(j.gate_holds);
}

TEST(Judge, SlowAndUnavailableCanariesTripTheirTriggers) {
  const Policy policy;
  const Judgement slow = judge(policy, evidence(version(5000, 0, 0, 2500, 3000), version(95000, 0, 0, 100, 300)), nullptr);
  EXPECT_TRUE(find(slow.triggers, "canary_p95_ms").holds);
  EXPECT_TRUE(find(slow.triggers, "p95_increase").holds);
  const Judgement unavailable = judge(policy, evidence(version(5000, 150, 150, 100, 300), version(95000, 95, 10, 100, 300)), nullptr);
  EXPECT_TRUE(find(unavailable.triggers, "canary_availability").holds);  // 97% < 99%
  EXPECT_FALSE(find(unavailable.triggers, "canary_error_rate").holds);   // 3% < 5%
}

TEST(Judge, TheRollingWindowIsJudgedToo) {
  const Policy policy;
  const Evidence fine = evidence(version(100000, 100, 10, 100, 300), version(1900000, 1900, 190, 100, 300));
  Evidence recent = evidence(version(2000, 300, 10, 100, 300), version(38000, 38, 4, 100, 300));
  recent.window = "rolling";
  recent.sequence = 7;
  const Judgement j = judge(policy, fine, &recent);
  EXPECT_TRUE(j.rollback);
  EXPECT_EQ(j.first_trigger()->window, "rolling");
}

TEST(Judge, AnEndpointBadOnItsOwnIsRolledBackAndNamed) {
  const Policy policy;
  // 2,000 canary requests at 0.5% errors overall but for one endpoint at 10% of its 200.
  const Evidence totals = evidence(version(2000, 25, 0, 100, 300), version(38000, 190, 0, 100, 300));
  JudgeInput in;
  in.step = &totals;
  for (int e = 0; e < 7; ++e) {
    EndpointEvidence ep;
    ep.name = "/e/" + std::to_string(e);
    ep.canary.requests = e == 3 ? 200 : 300;
    ep.canary.errors = e == 3 ? 20 : 1;
    ep.legacy.requests = 5000;
    ep.legacy.errors = 25;
    in.endpoints.push_back(ep);
  }
  const Judgement j = judge(policy, in);
  ASSERT_TRUE(j.rollback);
  EXPECT_EQ(j.first_trigger()->endpoint, "/e/3");
  EXPECT_EQ(j.first_trigger()->name, "error_rate_increase");
  EXPECT_FALSE(judge(policy, totals, nullptr).rollback);  // diluted in the totals
}

TEST(Judge, AnEndpointSlowOnItsOwnIsRolledBackByItsShareOfSlowRequests) {
  const Policy policy;
  const Evidence totals = evidence(version(3000, 15, 0, 100, 300), version(57000, 285, 0, 100, 300));
  JudgeInput in;
  in.step = &totals;
  for (int e = 0; e < 3; ++e) {
    EndpointEvidence ep;
    ep.name = "/e/" + std::to_string(e);
    ep.canary.requests = ep.canary_timed = 1000;
    ep.canary_slow = e == 2 ? 300 : 10;  // 30% over max_p95_ms: its P95 is beyond the limit
    ep.legacy.requests = ep.legacy_timed = 19000;
    ep.legacy_slow = 190;
    in.endpoints.push_back(ep);
  }
  const Judgement j = judge(policy, in);
  ASSERT_TRUE(j.rollback);
  EXPECT_EQ(j.first_trigger()->name, "canary_p95_ms");
  EXPECT_EQ(j.first_trigger()->endpoint, "/e/2");
  EXPECT_NEAR(j.first_trigger()->value, 30, 1e-9);
  EXPECT_EQ(j.first_trigger()->threshold, 5);
  EXPECT_FALSE(j.first_trigger()->legacy_also_breaches);
}

TEST(Judge, ACriticalEndpointMustPassTheGateOnItsOwn) {
  const Policy policy;
  const Evidence totals = evidence(version(20000, 100, 40, 100, 300), version(380000, 1900, 760, 100, 300));
  JudgeInput in;
  in.step = &totals;
  for (int e = 0; e < 2; ++e) {
    EndpointEvidence ep;
    ep.name = "/e/" + std::to_string(e);
    ep.critical = e == 1;
    ep.canary.requests = e == 1 ? 50 : 19950;  // too little on the critical one to prove anything
    ep.canary.errors = 0;
    ep.legacy.requests = 190000;
    ep.legacy.errors = 950;
    in.endpoints.push_back(ep);
  }
  const Judgement j = judge(policy, in);
  EXPECT_FALSE(j.rollback);
  EXPECT_FALSE(j.gate_holds);
  EXPECT_EQ(j.gate.back().endpoint, "/e/1");
  EXPECT_FALSE(j.gate.back().holds);
  in.endpoints[1].critical = false;
  EXPECT_TRUE(judge(policy, in).gate_holds);
}

TEST(Judge, WithoutTheGateOptionAProvenGateBreachDoesNotRollBack) {
  Policy policy;
  policy.rollback.when_gate_cannot_pass = false;
  const Judgement j = judge(policy, evidence(version(20000, 400, 0, 100, 300), version(380000, 380, 0, 100, 300)), nullptr);
  EXPECT_FALSE(j.rollback);  // 2% against 0.1%: outside the gate, inside the triggers
  EXPECT_FALSE(j.gate_holds);
  EXPECT_FALSE(find(j.gate, "error_rate_increase").holds);
}

}  // namespace
}  // namespace canary
