// SPDX-License-Identifier: Apache-2.0
// Decisions end to end: live workers (canary-loadgen), a live aggregator with a policy, and the
// results as canary-ctl, the event log and the admin API show them.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "server_process.hpp"
#include "canary/events.hpp"
#include "canary/segment.hpp"
#include "raw_http.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::AggregatorProcess;
using testing::run_tool;
using namespace std::chrono_literals;

constexpr int kIntervalMs = 250;

class Decisions : public ::testing::Test {
 protected:
  Decisions() : name(testing::unique_segment_name("decide")) {
    EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  }
  ~Decisions() override {
    stop_load();
    (void)Segment::destroy(name);
  }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  std::string status(const std::string& key) { return testing::status_value(ctl({"status"}).out, key); }
  std::unique_ptr<AggregatorProcess> aggregator(const std::string& policy, std::vector<std::string> extra = {}) {
    if (!policy.empty()) {  // an empty policy file is refused: no file means the defaults
      std::ofstream(dir + "/policy.yaml") << policy;
      extra.insert(extra.end(), {"--policy", dir + "/policy.yaml"});
    }
    extra.insert(extra.end(), {"--interval-ms", std::to_string(kIntervalMs)});
    auto p = std::make_unique<AggregatorProcess>(name, extra);
    EXPECT_TRUE(p->started()) << p->output();
    return p;
  }
  // Load in the background: up to `seconds` of 2 workers at `rate` requests per second each, in
  // a process of its own that stop_load() (or the end of the test) kills.
  void start_load(int seconds, int rate, std::vector<std::string> extra) {
    std::vector<std::string> args = {CANARY_LOADGEN_PATH, "--segment", name, "--workers", "2", "--rate",
                                     std::to_string(rate), "--requests", std::to_string(seconds * rate), "--seed", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    load_pid = fork();
    if (load_pid == 0) {
      setpgid(0, 0);  // its workers too, so one kill stops them all
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    setpgid(load_pid, load_pid);
  }
  // Waits for the load to finish by itself.
  void finish_load() {
    if (load_pid <= 0) return;
    waitpid(load_pid, nullptr, 0);
    load_pid = -1;
  }
  void stop_load() {
    if (load_pid <= 0) return;
    kill(-load_pid, SIGKILL);
    waitpid(load_pid, nullptr, 0);
    load_pid = -1;
  }
  static bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return done();
  }
  std::vector<Event> events() {
    auto segment = Segment::attach(name, Access::read_only);
    return segment ? read_events(*segment) : std::vector<Event>{};
  }
  std::optional<Event> last_event(EventKind kind) {
    std::optional<Event> found;
    for (const Event& e : events())
      if (e.kind == kind) found = e;
    return found;
  }
  // Rolled back by `check`, within two intervals, and every user now routes legacy.
  void expect_rolled_back_by(const std::string& check) {
    ASSERT_TRUE(wait_for([&] { return status("state") == "rolled_back"; }, 30s)) << "state " << status("state");
    const auto e = last_event(EventKind::rolled_back);
    ASSERT_TRUE(e);
    const json details = json::parse(e->details_json);
    EXPECT_EQ(details["check"], check) << e->details_json;
    EXPECT_EQ(e->actor, "canary-aggregator (automatic)");
    EXPECT_EQ(e->share_after_bp, 0u);
    EXPECT_LE(details["latency_intervals"].get<double>(), 2.0) << e->details_json;
    std::printf("rolled back by %s: %s, latency %u ms = %.2f intervals of %d ms\n", check.c_str(), e->reason.c_str(),
                e->latency_ms, details["latency_intervals"].get<double>(), kIntervalMs);
    EXPECT_EQ(e->latency_ms, details["latency_ms"].get<std::uint32_t>());
    for (int u = 0; u < 200; ++u)
      EXPECT_EQ(ctl({"route", "--user", "user-" + std::to_string(u), "--path", "/api/v2/conversations/abc/turn"}).out,
                "legacy\n");
  }

  std::string name;
  testing::ScratchDir scratch{"decide"};
  const std::string& dir = scratch.path;
  pid_t load_pid = -1;
};

// The triggers, one at a time: the others are out of reach of each load.
const char* kOnlyTriggers = "rollback: {when_gate_cannot_pass: false}\nramp: {bake: 1h}\n";

TEST_F(Decisions, AnErrorRateAbove5PercentRollsBack) {
  auto agg = aggregator(kOnlyTriggers);
  start_load(20, 3000, {"--canary-error-rate", "0.2", "--unavailable-share", "0"});
  expect_rolled_back_by("canary_error_rate");
}

TEST_F(Decisions, AP95Above2SecondsRollsBack) {
  auto agg = aggregator(kOnlyTriggers);
  start_load(20, 3000, {"--canary-latency-ms", "3000:0.2", "--legacy-latency-ms", "3000:0.2"});
  expect_rolled_back_by("canary_p95_ms");
}

TEST_F(Decisions, AvailabilityBelow99PercentRollsBack) {
  auto agg = aggregator(kOnlyTriggers);
  start_load(20, 3000, {"--canary-error-rate", "0.04", "--unavailable-share", "1"});
  expect_rolled_back_by("canary_availability");
}

TEST_F(Decisions, ACanaryProvenWorseThanTheGateAllowsIsRolledBack) {
  auto agg = aggregator("ramp: {bake: 1h}\n");
  start_load(20, 3000, {"--canary-error-rate", "0.03", "--legacy-error-rate", "0.001", "--unavailable-share", "0"});
  expect_rolled_back_by("error_rate_increase");
}

TEST_F(Decisions, ACanaryWithAMuchSlowerP95IsRolledBackAsOutsideTheGate) {
  auto agg = aggregator("ramp: {bake: 1h}\n");
  start_load(20, 3000, {"--canary-latency-ms", "150:0.2", "--legacy-latency-ms", "100:0.2"});
  expect_rolled_back_by("p95_increase");
}

// SPEC section 10: each candidate is judged against the baseline on its own; a rollback of one
// leaves the others running, and the metrics JSON shows every version.
TEST_F(Decisions, OneBadCandidateAmongThreeIsRolledBackAndTheOthersRunOn) {
  ASSERT_EQ(ctl({"version", "add", "canary2", "--share", "5"}).exit_code, 0);
  ASSERT_EQ(ctl({"version", "add", "canary3", "--share", "5"}).exit_code, 0);
  auto agg = aggregator(kOnlyTriggers);
  start_load(20, 3000, {"--versions", "legacy,canary,canary2,canary3", "--error-rates", "canary2=0.2",
                        "--unavailable-share", "0"});
  auto line_of = [&](const std::string& version) {
    const std::string out = ctl({"version", "list"}).out;
    const auto at = out.find(": " + version + " ");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  ASSERT_TRUE(wait_for([&] { return line_of("canary2").find("state=rolled_back") != std::string::npos; }, 30s))
      << line_of("canary2");
  const auto e = last_event(EventKind::rolled_back);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->version_name, "canary2");
  EXPECT_EQ(json::parse(e->details_json)["check"], "canary_error_rate");
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * kIntervalMs));
  EXPECT_NE(line_of("canary").find("share=5% state=running"), std::string::npos) << line_of("canary");
  EXPECT_NE(line_of("canary3").find("share=5% state=running"), std::string::npos) << line_of("canary3");
  const json metrics = json::parse(testing::get_body(agg->port(), "/api/v2/admin/canary/metrics"), nullptr, false);
  ASSERT_TRUE(metrics.contains("versions")) << metrics.dump();
  EXPECT_TRUE(metrics["versions"].contains("canary3"));
  EXPECT_NE(metrics["versions"]["canary3"]["p95_response_time_ms"], "n/a");  // its records reach the digests
  EXPECT_TRUE(metrics["comparisons"].contains("canary2"));
  EXPECT_EQ(metrics["comparisons"].size(), 3u);
  EXPECT_EQ(metrics["legacy"]["version"], "legacy");  // the seed's keys stay
  const json st = json::parse(testing::get_body(agg->port(), "/api/v2/admin/canary/status"), nullptr, false);
  EXPECT_EQ(st["candidates"]["canary2"]["state"], "rolled_back");
  EXPECT_EQ(st["candidates"]["canary3"]["state"], "running");
  const std::string prom = testing::get_body(agg->port(), "/metrics");
  EXPECT_NE(prom.find("canary_deployment_state{version=\"canary2\",state=\"rolled_back\"} 1"), std::string::npos);
  EXPECT_NE(prom.find("canary_requests_total{version=\"canary3\""), std::string::npos);
}

// strategy: blue_green: the smoke share until the gate is proven, then every user at once, then a
// bake with the triggers armed; a good candidate is promoted, a bad one switched back.
const char* kBlueGreen = "strategy: blue_green\nblue_green: {smoke: 20, bake: 3s}\ngate: {min_canary_requests: 300}\n";

TEST_F(Decisions, BlueGreenSwitchesOnceTheGateIsProvenThenPromotesAfterTheBake) {
  auto agg = aggregator(kBlueGreen);
  ASSERT_EQ(ctl({"start"}).exit_code, 0);
  EXPECT_EQ(status("canary_percentage"), "20");  // the smoke share
  start_load(40, 3000, {"--canary-latency-ms", "100:0.2", "--legacy-latency-ms", "100:0.2"});
  ASSERT_TRUE(wait_for([&] { return last_event(EventKind::switched).has_value(); }, 60s)) << status("state_reason");
  for (int u = 0; u < 50; ++u)
    EXPECT_EQ(ctl({"route", "--user", "user-" + std::to_string(u), "--path", "/api/v2/conversations/abc/turn"}).out, "canary\n");
  ASSERT_TRUE(wait_for([&] { return status("state") == "promoted"; }, 60s)) << status("state_reason");
  EXPECT_EQ(status("canary_percentage"), "100");
  EXPECT_EQ(ctl({"version", "list"}).out.find("switch:"), std::string::npos);  // the promotion replaced the switch
}

TEST_F(Decisions, BlueGreenSwitchesBackByItselfWhenATriggerIsProvenDuringTheBake) {
  auto agg = aggregator(std::string(kBlueGreen) + "rollback: {when_gate_cannot_pass: false}\n");
  ASSERT_EQ(ctl({"start"}).exit_code, 0);
  // Healthy until the switch, then failing: a regression the smoke share did not show.
  start_load(40, 3000, {"--canary-latency-ms", "100:0.2", "--legacy-latency-ms", "100:0.2"});
  ASSERT_TRUE(wait_for([&] { return last_event(EventKind::switched).has_value(); }, 60s)) << status("state_reason");
  stop_load();
  start_load(20, 3000, {"--canary-error-rate", "0.2", "--unavailable-share", "0"});
  ASSERT_TRUE(wait_for([&] { return status("state") == "rolled_back"; }, 30s)) << status("state_reason");
  const auto back = last_event(EventKind::switched_back);
  ASSERT_TRUE(back);
  EXPECT_NE(back->reason.find("switched back: automatic rollback"), std::string::npos) << back->reason;
  for (int u = 0; u < 50; ++u)
    EXPECT_EQ(ctl({"route", "--user", "user-" + std::to_string(u), "--path", "/api/v2/conversations/abc/turn"}).out, "legacy\n");
}

TEST_F(Decisions, AGoodCanaryRampsThroughItsStepsAndWaitsForApproval) {
  auto agg = aggregator(
      "gate: {min_canary_requests: 300}\nramp: {steps: [5, 10, 25, 100], bake: 1s, require_approval: true}\n",
      {"--state-dir", dir});
  start_load(40, 4000, {"--canary-latency-ms", "100:0.2", "--legacy-latency-ms", "100:0.2"});
  ASSERT_TRUE(wait_for([&] { return status("awaiting_approval") == "true"; }, 60s))
      << status("canary_percentage") << " " << status("state_reason");
  EXPECT_EQ(status("canary_percentage"), "25");
  std::vector<std::uint32_t> steps;
  for (const Event& e : events())
    if (e.kind == EventKind::ramp_step) steps.push_back(e.share_after_bp);
  EXPECT_EQ(steps, (std::vector<std::uint32_t>{1000, 2500}));
  const auto waiting = last_event(EventKind::awaiting_approval);
  ASSERT_TRUE(waiting);
  EXPECT_NE(json::parse(waiting->details_json)["gate_held_s"].get<double>(), 0);
  // The step to 100% is a person's: `approve`, or `promote`, which asks the live aggregator whether
  // the gate holds now (it does).
  const auto promoted = ctl({"promote", "--reason", "signed off"});
  EXPECT_EQ(promoted.exit_code, 0) << promoted.err;
  EXPECT_EQ(status("state"), "promoted");
  EXPECT_EQ(status("canary_percentage"), "100");
  // Every event reached the JSON lines in the state directory.
  ASSERT_TRUE(wait_for([&] {
    std::ifstream in(dir + "/" + name + ".events.jsonl");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    return text.find("\"kind\":\"promoted\"") != std::string::npos;
  }, 10s));
}

TEST_F(Decisions, AGateThatCannotPassKeepsTheCanaryWhereItIs) {
  auto agg = aggregator("gate: {min_canary_requests: 300}\nrollback: {when_gate_cannot_pass: false}\n"
                        "ramp: {steps: [5, 10, 100], bake: 1s}\n");
  start_load(8, 3000, {"--canary-latency-ms", "150:0.2", "--legacy-latency-ms", "100:0.2"});
  finish_load();
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kIntervalMs));
  EXPECT_EQ(status("canary_percentage"), "5");
  EXPECT_EQ(status("state"), "running");
  const auto refused = ctl({"promote"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("gate does not hold"), std::string::npos) << refused.err;
  httplib::Client http("127.0.0.1", agg->port());
  const json decision = json::parse(http.Get("/api/v2/admin/canary/status")->body)["decision"];
  EXPECT_FALSE(decision["gate_holds"].get<bool>());
  for (const json& check : decision["gate"])
    if (check["check"] == "p95_increase") {
      EXPECT_FALSE(check["holds"].get<bool>());
      EXPECT_GT(check["bound"].get<double>(), 0.1);
      EXPECT_GT(check["canary_samples"].get<std::uint64_t>(), 1000u);
      EXPECT_NE(check["test"].get<std::string>().find("alpha"), std::string::npos);
    }
}

TEST_F(Decisions, AStepThatNeverPassesBecomesInconclusiveAndItsTriggersStayArmed) {
  // The gate can never pass (it wants more requests than the load sends): after 2 s the step
  // is inconclusive, the share stays, and a regression after that is still rolled back.
  auto agg = aggregator("gate: {min_canary_requests: 1000000000, max_step_duration: 2s}\n" + std::string(kOnlyTriggers));
  start_load(60, 2000, {});
  ASSERT_TRUE(wait_for([&] { return status("state") == "inconclusive"; }, 30s)) << status("state");
  EXPECT_EQ(status("canary_percentage"), "5");
  const auto e = last_event(EventKind::inconclusive);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->actor, "canary-aggregator (automatic)");
  EXPECT_NE(e->reason.find("did not pass within 2 s"), std::string::npos) << e->reason;
  EXPECT_NE(e->details_json.find("canary_requests"), std::string::npos) << e->details_json;  // the failing check
  const auto refused = ctl({"promote"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("promote --force"), std::string::npos) << refused.err;
  EXPECT_EQ(ctl({"set-percentage", "10"}).exit_code, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * kIntervalMs));
  EXPECT_EQ(status("state"), "inconclusive");  // frozen, not re-decided

  stop_load();
  start_load(20, 3000, {"--canary-error-rate", "0.2", "--unavailable-share", "0"});
  expect_rolled_back_by("canary_error_rate");
}

TEST_F(Decisions, AKilledAggregatorResumesTheRampWhereItWas) {
  const std::string policy = "gate: {min_canary_requests: 300}\nramp: {steps: [5, 10, 25, 50, 100], bake: 2s}\n";
  auto agg = aggregator(policy, {"--state-dir", dir, "--checkpoint-s", "1"});
  start_load(50, 4000, {"--canary-latency-ms", "100:0.2", "--legacy-latency-ms", "100:0.2"});
  ASSERT_TRUE(wait_for([&] { return status("canary_percentage") == "10"; }, 40s)) << status("canary_percentage");
  agg->kill_hard();
  EXPECT_NE(status("aggregator"), "alive");
  const std::string share_at_kill = status("canary_percentage");
  agg = aggregator(policy, {"--state-dir", dir, "--checkpoint-s", "1"});
  EXPECT_NE(agg->output().find("restored from"), std::string::npos) << agg->output();
  // Onwards from where it was: the next step is 25, never back to 5.
  bool went_back = false;
  ASSERT_TRUE(wait_for([&] {
    const std::string share = status("canary_percentage");
    went_back = went_back || share == "5";
    return share == "25" || share == "50";
  }, 40s)) << status("canary_percentage");
  EXPECT_FALSE(went_back);
  EXPECT_EQ(share_at_kill, "10");
}

TEST_F(Decisions, TheFailSafeRoutesLegacyWhenTheAggregatorStops) {
  auto agg = aggregator("fail_safe: {enabled: true, stale_heartbeat: 1s}\n");
  ASSERT_EQ(ctl({"set-percentage", "100"}).exit_code, 0);
  EXPECT_EQ(status("fail_safe_after_ms"), "1000");
  EXPECT_EQ(ctl({"route", "--user", "someone"}).out, "canary\n");
  agg->kill_hard();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(ctl({"route", "--user", "someone"}).out, "legacy\n");
  EXPECT_EQ(ctl({"route", "--user", "someone", "--path", "/api/v2/conversations"}).out, "legacy\n");
  agg = aggregator("fail_safe: {enabled: true, stale_heartbeat: 1s}\n");
  EXPECT_EQ(ctl({"route", "--user", "someone"}).out, "canary\n");
}

TEST_F(Decisions, WebhooksGetEveryEventWithRetriesAndPagerDutyGetsRollbacks) {
  httplib::Server receiver;
  std::mutex mutex;
  std::vector<json> slack, pagerduty;
  int slack_calls = 0;
  receiver.Post("/slack", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    if (++slack_calls == 1) {
      res.status = 500;  // the first delivery fails: the sender must retry
      return;
    }
    slack.push_back(json::parse(req.body));
  });
  receiver.Post("/pd", [&](const httplib::Request& req, httplib::Response&) {
    std::lock_guard lock(mutex);
    pagerduty.push_back(json::parse(req.body));
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread serve([&] { receiver.listen_after_bind(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto agg = aggregator("webhooks:\n  - {kind: slack, url: " + base + "/slack}\n  - {kind: pagerduty, url: " + base +
                        "/pd, routing_key: abc123}\nwebhook_timeout: 2s\nwebhook_retries: 3\n");
  ASSERT_EQ(ctl({"rollback", "--reason", "smoke test"}).exit_code, 0);
  ASSERT_EQ(ctl({"start", "--share", "5"}).exit_code, 0);
  const bool delivered = wait_for([&] {
    std::lock_guard lock(mutex);
    return slack.size() >= 2 && pagerduty.size() >= 1;
  }, 20s);
  receiver.stop();
  serve.join();
  ASSERT_TRUE(delivered) << slack.size() << " " << pagerduty.size();
  EXPECT_NE(slack[0]["text"].get<std::string>().find("rolled_back 5% -> 0%"), std::string::npos) << slack[0];
  EXPECT_NE(slack[0]["text"].get<std::string>().find("smoke test"), std::string::npos);
  EXPECT_NE(slack[1]["text"].get<std::string>().find("started"), std::string::npos);
  EXPECT_EQ(pagerduty.size(), 1u);  // the start is not a page
  const json& pd = pagerduty[0];
  EXPECT_EQ(pd["routing_key"], "abc123");
  EXPECT_EQ(pd["event_action"], "trigger");
  EXPECT_EQ(pd["payload"]["severity"], "critical");
  EXPECT_EQ(pd["payload"]["custom_details"]["kind"], "rolled_back");
  EXPECT_TRUE(pd["payload"].contains("source"));
  EXPECT_TRUE(pd["payload"].contains("summary"));
  EXPECT_GE(slack_calls, 3);
}

TEST_F(Decisions, TheApiRunsTheCommandsAndShowsTheirEvents) {
  std::ofstream(dir + "/token") << "t0ken\n";
  auto agg = aggregator("", {"--admin-token-file", dir + "/token"});
  httplib::Client http("127.0.0.1", agg->port());
  const httplib::Headers auth = {{"Authorization", "Bearer t0ken"}};
  EXPECT_EQ(http.Post("/api/v2/admin/canary/pause", "", "application/json")->status, 401);
  EXPECT_EQ(http.Post("/api/v2/admin/canary/pause", auth, R"({"reason": "deploy freeze"})", "application/json")->status, 200);
  EXPECT_EQ(http.Post("/api/v2/admin/canary/pause", auth, "", "application/json")->status, 409);
  EXPECT_EQ(http.Post("/api/v2/admin/canary/resume", auth, "", "application/json")->status, 200);
  auto bad = http.Post("/api/v2/admin/canary/start", auth, R"({"share": 150})", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["field"], "share");
  auto unknown = http.Post("/api/v2/admin/canary/rollback", auth, R"({"force": true})", "application/json");
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(json::parse(unknown->body)["field"], "force");
  EXPECT_EQ(http.Post("/api/v2/admin/canary/promote", auth, "", "application/json")->status, 409);  // the gate
  EXPECT_EQ(http.Post("/api/v2/admin/canary/rollback", auth, "", "application/json")->status, 200);
  auto started = http.Post("/api/v2/admin/canary/start", auth, R"({"share": 2.5, "salt": 7, "reason": "v2"})", "application/json");
  ASSERT_EQ(started->status, 200) << started->body;
  EXPECT_EQ(json::parse(started->body)["canary_percentage"], 2.5);
  EXPECT_EQ(json::parse(started->body)["salt"], 7);
  EXPECT_EQ(http.Post("/api/v2/admin/canary/promote", auth, R"({"force": true})", "application/json")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kIntervalMs));
  const json s = json::parse(http.Get("/api/v2/admin/canary/status")->body);
  EXPECT_EQ(s["state"], "promoted");
  std::vector<std::string> kinds;
  for (const json& e : s["events"]) kinds.push_back(e["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"paused", "resumed", "rolled_back", "started", "promoted"}));
  EXPECT_EQ(s["events"][0]["reason"], "deploy freeze");
  EXPECT_NE(s["events"][0]["actor"].get<std::string>().find("admin API POST"), std::string::npos);
}

}  // namespace
}  // namespace canary
