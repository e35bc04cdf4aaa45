// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <fstream>

#include "canary/decision/policy.hpp"

namespace canary {
namespace {

TEST(Policy, AnEmptyFileIsRefused) {
  for (const char* text : {"", "\n", "# nothing but a comment\n", "~\n"}) {
    auto p = parse_policy(text, "policy.yaml");
    ASSERT_FALSE(p) << text;
    EXPECT_EQ(p.status().message(), "policy.yaml: the policy is empty (leave --policy out for the defaults)");
  }
}

TEST(Policy, LeftOutFieldsAreTheSeedsNumbers) {
  auto p = parse_policy("ramp: {require_approval: true}", "policy.yaml");
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ(p->gate.max_error_rate_increase_points, 0.5);
  EXPECT_EQ(p->gate.max_p95_increase, 0.10);
  EXPECT_EQ(p->gate.min_canary_requests, 1000u);
  EXPECT_EQ(p->rollback.max_error_rate_percent, 5);
  EXPECT_EQ(p->rollback.max_p95_ms, 2000);
  EXPECT_EQ(p->rollback.min_availability_percent, 99);
  EXPECT_EQ(p->rollback.window_ms, 300000u);
  EXPECT_TRUE(p->rollback.when_gate_cannot_pass);
  EXPECT_EQ(p->ramp.steps_bp, (std::vector<std::uint32_t>{500, 1000, 2500, 5000, 10000}));
  EXPECT_TRUE(p->ramp.require_approval);
  EXPECT_FALSE(p->fail_safe.enabled);
  EXPECT_EQ(p->gate.max_step_duration_ms, 86'400'000u);
  EXPECT_EQ(p->rollback.when_legacy_also_breaches, RollbackPolicy::WhenLegacyAlsoBreaches::rollback);
}

TEST(Policy, TheDocumentedExampleParses) {
  std::ifstream in(CANARY_SOURCE_DIR "/docs/policy-example.yaml");
  ASSERT_TRUE(in);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  auto p = parse_policy(text, "policy-example.yaml");
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ(p->webhooks.size(), 2u);
  EXPECT_TRUE(p->webhooks[1].wants(EventKind::rolled_back));
  EXPECT_FALSE(p->webhooks[1].wants(EventKind::ramp_step));
  EXPECT_TRUE(p->webhooks[0].wants(EventKind::ramp_step));
}

TEST(Policy, ValuesAndDurationsAreRead) {
  auto p = parse_policy(R"(
gate: {max_error_rate_increase: 0.25, min_canary_requests: 200, alpha: 0.01, max_step_duration: 90m}
rollback: {window: 2m, max_p95_ms: 1500, count_4xx_as_errors: true, when_legacy_also_breaches: hold}
ramp: {steps: [1, 2.5, 50, 100], bake: [30s, 1m, 2h, 0], require_approval: false}
fail_safe: {enabled: true, stale_heartbeat: 15s}
webhook_timeout: 500ms
webhook_retries: 5
)", "p.yaml");
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ(p->gate.max_error_rate_increase_points, 0.25);
  EXPECT_EQ(p->rollback.window_ms, 120000u);
  EXPECT_EQ(p->gate.max_step_duration_ms, 5'400'000u);
  EXPECT_EQ(p->rollback.when_legacy_also_breaches, RollbackPolicy::WhenLegacyAlsoBreaches::hold);
  EXPECT_EQ(p->ramp.steps_bp, (std::vector<std::uint32_t>{100, 250, 5000, 10000}));
  EXPECT_EQ(p->ramp.bake_for(2), 7200000u);
  EXPECT_EQ(p->ramp.bake_for(3), 0u);
  EXPECT_EQ(p->fail_safe.stale_heartbeat_ms, 15000u);
  EXPECT_EQ(p->webhook_timeout_ms, 500u);
}

TEST(Policy, TheBlueGreenStrategyAndItsSettingsAreRead) {
  auto p = parse_policy("strategy: blue_green\nblue_green: {smoke: 2.5, bake: 5m}", "policy.yaml");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->strategy, Strategy::blue_green);
  EXPECT_EQ(p->blue_green.smoke_bp, 250u);
  EXPECT_EQ(p->blue_green.bake_ms, 300'000u);
  EXPECT_EQ(parse_policy("{}", "p").value().strategy, Strategy::canary);
  EXPECT_EQ(parse_policy("{}", "p").value().blue_green.smoke_bp, 100u);  // 1% by default
  for (const char* bad : {"strategy: red_black", "blue_green: {smoke: 100}", "blue_green: {smoke: 0}", "blue_green: {wait: 1m}"}) {
    auto refused = parse_policy(bad, "policy.yaml");
    EXPECT_FALSE(refused.ok()) << bad;
  }
  EXPECT_NE(parse_policy("strategy: red_black", "p").status().message().find("canary or blue_green"), std::string::npos);
}

TEST(Policy, EndpointRolesAndTheChangeHorizonAreRead) {
  auto p = parse_policy("endpoints:\n  /api/pay: critical\n  /healthz: ignore\nrollback:\n  change_horizon: 6h\n", "p.yaml");
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ(p->role_of("/api/pay"), EndpointRole::critical);
  EXPECT_EQ(p->role_of("/healthz"), EndpointRole::ignore);
  EXPECT_EQ(p->role_of("/api/other"), EndpointRole::normal);
  EXPECT_EQ(p->rollback.change_horizon_ms, 6u * 3600 * 1000);
}

TEST(Policy, TheP99ChecksAreOffUnlessSet) {
  auto defaults = parse_policy("strategy: canary\n", "p.yaml");
  ASSERT_TRUE(defaults);
  EXPECT_FALSE(defaults->gate.max_p99_increase);
  EXPECT_FALSE(defaults->rollback.max_p99_ms);
  auto p = parse_policy("gate:\n  max_p99_increase: 0.5\nrollback:\n  max_p99_ms: 4000\n", "p.yaml");
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ(p->gate.max_p99_increase, 0.5);
  EXPECT_EQ(p->rollback.max_p99_ms, 4000);
}

TEST(Policy, ABadPolicyIsRefusedWithItsLineAndField) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"gate:\n  max_p95_increase: lots\n", "p.yaml:2: gate.max_p95_increase", "not a number"},
      {"gate:\n  max_p99_increase: -1\n", "p.yaml:2: gate.max_p99_increase", "above 0"},
      {"rollback:\n  max_p99_ms: soon\n", "p.yaml:2: rollback.max_p99_ms", "not a number"},
      {"gate:\n  max_p90_increase: 0.1\n", "p.yaml:2: gate.max_p90_increase", "unknown field"},
      {"gate:\n  colour: blue\n", "p.yaml:2: gate.colour", "unknown field"},
      {"rollback:\n  max_error_rate: 150\n", "p.yaml:2: rollback.max_error_rate", "at most 100"},
      {"rollback:\n  window: soon\n", "p.yaml:2: rollback.window", "not a duration"},
      {"ramp:\n  steps: [10, 5]\n", "p.yaml:2: ramp.steps", "must rise"},
      {"ramp:\n  steps: [10, 101]\n", "p.yaml:2: ramp.steps[1]", "above 100"},
      {"ramp:\n  steps: [5, 10]\n  bake: [1m]\n", "p.yaml:3: ramp.bake", "one duration per step"},
      {"webhooks:\n  - kind: pagerduty\n    url: https://x\n", "p.yaml:2: webhooks[0].routing_key", "required"},
      {"webhooks:\n  - kind: teams\n    url: https://x\n", "p.yaml:2: webhooks[0].kind", "slack or pagerduty"},
      {"webhooks:\n  - kind: slack\n    url: ftp://x\n", "p.yaml:3: webhooks[0].url", "http"},
      {"fail_safe:\n  enabled: maybe\n", "p.yaml:2: fail_safe.enabled", "true or false"},
      {"gate:\n  max_step_duration: 0s\n", "p.yaml:2: gate.max_step_duration", "must be from"},
      {"rollback:\n  when_legacy_also_breaches: maybe\n", "p.yaml:2: rollback.when_legacy_also_breaches", "rollback or hold"},
      {"gate: [1, 2\n", "p.yaml:", "not valid YAML"},
      {"endpoints:\n  /api/x: vital\n", "p.yaml:2: endpoints./api/x", "critical or ignore"},
      {"endpoints:\n  api x: critical\n", "p.yaml:2: endpoints.api x", ""},
      {"endpoints: [/a]\n", "p.yaml:1: endpoints", "must map"},
      {"rollback:\n  change_horizon: 1s\n", "p.yaml:2: rollback.change_horizon", "must be from"},
      // Counts are whole, percentages have at most two decimals, and no key comes twice.
      {"gate:\n  min_canary_requests: 1000.5\n", "p.yaml:2: gate.min_canary_requests", "not a whole number"},
      {"gate:\n  min_canary_requests: -3\n", "p.yaml:2: gate.min_canary_requests", "not a whole number"},
      {"webhook_retries: 2.5\n", "p.yaml:1: webhook_retries", "not a whole number"},
      {"rollback:\n  max_error_rate: 5.125\n", "p.yaml:2: rollback.max_error_rate", "more than two decimals"},
      {"rollback:\n  min_availability: 99.999\n", "p.yaml:2: rollback.min_availability", "more than two decimals"},
      {"rollback:\n  min_availability: 9.9e1\n", "p.yaml:2: rollback.min_availability", "not a percentage"},
      {"gate:\n  max_error_rate_increase: 0.125\n", "p.yaml:2: gate.max_error_rate_increase", "more than two decimals"},
      {"rollback:\n  max_error_rate: 5\n  max_error_rate: 50\n", "p.yaml:3: rollback.max_error_rate", "appears twice"},
      {"gate: {alpha: 0.01}\ngate: {alpha: 0.2}\n", "p.yaml:2: gate", "appears twice"},
  };
  for (const auto& [text, where, why] : cases) {
    auto p = parse_policy(text, "p.yaml");
    ASSERT_FALSE(p) << text;
    EXPECT_EQ(p.status().message().rfind(where, 0), 0u) << p.status().message();
    EXPECT_NE(p.status().message().find(why), std::string::npos) << p.status().message();
  }
  EXPECT_FALSE(load_policy("/nonexistent/policy.yaml"));
}

}  // namespace
}  // namespace canary
