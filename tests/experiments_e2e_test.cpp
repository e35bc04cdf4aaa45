// SPDX-License-Identifier: Apache-2.0
// Experiments end to end: defined through the admin API or canary-ctl, driven by canary-loadgen's
// worker processes, counted by a live aggregator and shown the same way by the API, canary-ctl
// and /metrics; an arm bound to a version is stopped when that version is rolled back.
#include <httplib.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "canary/segment.hpp"
#include "raw_http.hpp"
#include "scratch_dir.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::AggregatorProcess;
using testing::run_tool;
using namespace std::chrono_literals;

class Experiments : public ::testing::Test {
 protected:
  Experiments() : name(testing::unique_segment_name("exp")) { EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0); }
  ~Experiments() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  testing::ToolResult loadgen(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_LOADGEN_PATH, args);
  }
  static json get(const AggregatorProcess& agg, const std::string& path) {
    return json::parse(testing::get_body(agg.port(), path), nullptr, false);
  }
  // Polls until `done` holds for the experiment's results (the aggregator publishes every interval).
  static json results_when(const AggregatorProcess& agg, const std::string& experiment, const std::function<bool(const json&)>& done) {
    json r;
    for (int i = 0; i < 100; ++i) {
      r = get(agg, "/api/v2/admin/canary/experiments/" + experiment);
      if (!r.is_discarded() && done(r)) break;
      std::this_thread::sleep_for(100ms);
    }
    return r;
  }

  std::string name;
};

TEST_F(Experiments, AnExperimentDrivenByWorkersShowsTheSameResultsInTheApiCtlAndMetrics) {
  AggregatorProcess agg(name, {"--interval-ms", "200"});
  ASSERT_TRUE(agg.started()) << agg.output();
  httplib::Client api("127.0.0.1", agg.port());

  // Bad definitions are refused with the field named, and change nothing.
  auto bad = api.Post("/api/v2/admin/canary/experiments", R"({"name":"reco","arms":"control:60,treatment:50"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("sum to 110%"), std::string::npos) << bad->body;
  EXPECT_EQ(get(agg, "/api/v2/admin/canary/experiments")["experiments"].size(), 0u);

  auto created = api.Post("/api/v2/admin/canary/experiments",
                          R"({"name":"reco","arms":"control:50,treatment:50","metrics":["clicks:conversion"]})", "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(json::parse(created->body)["state"], "draft");
  auto started = api.Post("/api/v2/admin/canary/experiments/reco/start", "", "application/json");
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 200) << started->body;
  EXPECT_EQ(api.Post("/api/v2/admin/canary/experiments/nope/start", "", "application/json")->status, 404);

  // 3,000 users; control converts 5%, treatment 40%: a lift no test can miss.
  const auto run = loadgen({"--workers", "2", "--requests", "6000", "--users", "3000", "--rate", "4000", "--experiment", "reco",
                            "--conversion", "control=0.05,treatment=0.40"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json truth = json::parse(run.out)["experiment"];
  const std::uint64_t exposures = truth["exposures"].get<std::uint64_t>();
  ASSERT_GT(exposures, 10'000u);

  const json r = results_when(agg, "reco", [&](const json& j) {
    return j["arms"][0]["exposures"].get<std::uint64_t>() + j["arms"][1]["exposures"].get<std::uint64_t>() +
               j["records_dropped"].get<std::uint64_t>() >= exposures;
  });
  ASSERT_EQ(r["records_dropped"], 0) << r.dump(2);
  EXPECT_EQ(r["arms"][0]["exposures"].get<std::uint64_t>() + r["arms"][1]["exposures"].get<std::uint64_t>(), exposures);
  const std::uint64_t users = r["arms"][0]["users"].get<std::uint64_t>() + r["arms"][1]["users"].get<std::uint64_t>();
  EXPECT_GT(users, 2'900u);  // nearly every one of the 3,000 sent a request
  EXPECT_LE(users, 3'000u);
  EXPECT_EQ(r["arms"][1]["metrics"]["clicks"]["verdict"], "treatment_better") << r.dump(2);
  EXPECT_EQ(r["arms"][1]["verdict"], "treatment_better");
  EXPECT_NEAR(r["arms"][0]["metrics"]["clicks"]["mean"].get<double>(), 0.05, 0.03);
  EXPECT_FALSE(r["srm"]["detected"].get<bool>());
  EXPECT_EQ(r["arm_mismatches"], 0);

  // canary-ctl reads the same totals from the segment.
  const auto shown = ctl({"experiment", "show", "reco", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const json from_ctl = json::parse(shown.out);
  EXPECT_EQ(from_ctl["arms"][1]["users"], r["arms"][1]["users"]);
  EXPECT_EQ(from_ctl["arms"][1]["verdict"], "treatment_better");
  const auto text = ctl({"experiment", "show", "reco"});
  EXPECT_NE(text.out.find("verdict treatment_better"), std::string::npos) << text.out;

  const std::string metrics = testing::get_body(agg.port(), "/metrics");
  EXPECT_NE(metrics.find("canary_experiment_users{experiment=\"reco\",arm=\"treatment\"} " + r["arms"][1]["users"].dump()),
            std::string::npos);
  EXPECT_NE(metrics.find("canary_experiment_verdict{experiment=\"reco\",arm=\"treatment\",metric=\"clicks\",verdict=\"treatment_better\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("canary_experiment_records_dropped_total{experiment=\"reco\"} 0"), std::string::npos);

  // Concluded: everyone gets treatment; results stay; later records are ignored, and counted.
  auto concluded = api.Post("/api/v2/admin/canary/experiments/reco/conclude", R"({"arm":"treatment"})", "application/json");
  ASSERT_TRUE(concluded);
  ASSERT_EQ(concluded->status, 200) << concluded->body;
  EXPECT_EQ(json::parse(concluded->body)["state"], "concluded");
  EXPECT_NE(loadgen({"--requests", "10", "--experiment", "reco"}).exit_code, 0);  // not running: refused
  EXPECT_EQ(get(agg, "/api/v2/admin/canary/experiments/reco")["arms"][1]["users"], r["arms"][1]["users"]);
}

TEST_F(Experiments, AnArmBoundToAVersionRoutesThereAndStopsWhenTheVersionIsRolledBack) {
  AggregatorProcess agg(name, {"--interval-ms", "200"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"set-percentage", "0"}).exit_code, 0);
  const auto created = ctl({"experiment", "create", "versions", "--arms", "control:50,treatment:50@canary", "--metric", "clicks:count"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_EQ(ctl({"experiment", "start", "versions"}).exit_code, 0);
  // With the canary's own share at 0, the experiment's treatment arm alone reaches it.
  std::vector<std::string> users;
  for (int u = 0; u < 200; ++u) users.push_back("user-" + std::to_string(u));
  const std::string path = "/api/v2/recommend/personalized";
  const auto before = testing::route_users(CANARY_CTL_PATH, name, users, path);
  ASSERT_EQ(before.size(), users.size());
  const auto canary = std::count(before.begin(), before.end(), "canary");
  EXPECT_GT(canary, 60);
  EXPECT_LT(canary, 140);

  ASSERT_EQ(ctl({"rollback", "--reason", "bad canary"}).exit_code, 0);
  const json r = results_when(agg, "versions", [](const json& j) { return j["state"] == "stopped"; });
  EXPECT_EQ(r["state"], "stopped") << r.dump(2);
  EXPECT_NE(r["reason"].get<std::string>().find("rolled back"), std::string::npos);
  const auto after = testing::route_users(CANARY_CTL_PATH, name, users, path);
  EXPECT_EQ(std::count(after.begin(), after.end(), "legacy"), 200);
}

// The per-user state survives a restart: with --state-dir a stopped aggregator writes it, the next
// one restores it, and a user seen before is not counted again.
TEST_F(Experiments, AnAggregatorRestartKeepsEveryUserOnce) {
  testing::ScratchDir state{"exp-state"};
  ASSERT_EQ(ctl({"experiment", "create", "reco", "--arms", "control:50,treatment:50", "--metric", "revenue:sum"}).exit_code, 0);
  ASSERT_EQ(ctl({"experiment", "start", "reco"}).exit_code, 0);
  json before;
  {
    AggregatorProcess agg(name, {"--interval-ms", "200", "--state-dir", state.path});
    ASSERT_TRUE(agg.started()) << agg.output();
    const auto run = loadgen({"--requests", "3000", "--users", "500", "--rate", "5000", "--experiment", "reco"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const std::uint64_t exposures = json::parse(run.out)["experiment"]["exposures"].get<std::uint64_t>();
    before = results_when(agg, "reco", [&](const json& j) {
      return j["arms"][0]["exposures"].get<std::uint64_t>() + j["arms"][1]["exposures"].get<std::uint64_t>() == exposures;
    });
    EXPECT_EQ(agg.stop(), 0);
  }
  ASSERT_GT(before["arms"][0]["users"].get<int>() + before["arms"][1]["users"].get<int>(), 490);
  AggregatorProcess agg(name, {"--interval-ms", "200", "--state-dir", state.path});
  ASSERT_TRUE(agg.started()) << agg.output();
  // The same 500 users again: none is new, every exposure adds.
  ASSERT_EQ(loadgen({"--requests", "3000", "--users", "500", "--rate", "5000", "--experiment", "reco"}).exit_code, 0);
  const std::uint64_t exposed_before =
      before["arms"][0]["exposures"].get<std::uint64_t>() + before["arms"][1]["exposures"].get<std::uint64_t>();
  const json after = results_when(agg, "reco", [&](const json& j) {
    return j["arms"][0]["exposures"].get<std::uint64_t>() + j["arms"][1]["exposures"].get<std::uint64_t>() >= 2 * exposed_before;
  });
  EXPECT_EQ(after["arms"][0]["users"], before["arms"][0]["users"]) << after.dump(2);
  EXPECT_EQ(after["arms"][1]["users"], before["arms"][1]["users"]);
  EXPECT_EQ(after["arms"][0]["exposures"].get<std::uint64_t>() + after["arms"][1]["exposures"].get<std::uint64_t>(), 2 * exposed_before);
}

// Records lost while no aggregator runs are the experiment's too: its drops count from its start
// (the base is in the segment), not from when an aggregator first looked.
TEST_F(Experiments, ExposuresDroppedWhileNoAggregatorRunsCountFromTheStart) {
  ASSERT_EQ(ctl({"init", "--force", "--cpus", "2", "--rings", "2", "--ring-records", "1024"}).exit_code, 0);
  ASSERT_EQ(ctl({"experiment", "create", "reco", "--arms", "control:50,treatment:50"}).exit_code, 0);
  ASSERT_EQ(ctl({"experiment", "start", "reco"}).exit_code, 0);
  const auto run = loadgen({"--requests", "50000", "--users", "5000", "--experiment", "reco"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::uint64_t sent = json::parse(run.out)["experiment"]["exposures"].get<std::uint64_t>();
  AggregatorProcess agg(name, {"--interval-ms", "100"});
  ASSERT_TRUE(agg.started()) << agg.output();
  const json r = results_when(agg, "reco", [](const json& j) { return j["aggregated"] == true; });
  const std::uint64_t counted = r["arms"][0]["exposures"].get<std::uint64_t>() + r["arms"][1]["exposures"].get<std::uint64_t>();
  const std::uint64_t dropped = r["records_dropped"].get<std::uint64_t>();
  std::printf("%llu exposures sent with no aggregator running: %llu counted, %llu dropped\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(counted),
              static_cast<unsigned long long>(dropped));
  EXPECT_GT(dropped, 0u) << "two rings of 1,024 cannot hold 50,000";
  EXPECT_EQ(counted + dropped, sent) << r.dump(2);
}

TEST_F(Experiments, CtlRefusesBadInputInOneLine) {
  auto r = ctl({"experiment", "create", "e", "--arms", "a:50,b:40"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "canary-ctl: the arms' shares sum to 90%; they must sum to 100%\n");
  r = ctl({"experiment", "create", "e", "--arms", "a:50,b:50", "--metric", "x:ratio"});
  EXPECT_EQ(r.err, "canary-ctl: metric 'x' has kind 'ratio'; the kinds are conversion, sum and count\n");
  r = ctl({"experiment", "start", "nope"});
  EXPECT_EQ(r.err, "canary-ctl: no experiment named 'nope' (experiments: none)\n");
  r = ctl({"experiment", "create", "e", "--arms", "a:50,b:50", "--exposure", "120"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(ctl({"experiment", "list"}).out, "no experiments\n");
}

}  // namespace
}  // namespace canary
