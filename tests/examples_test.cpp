// SPDX-License-Identifier: Apache-2.0
// The examples as a user meets them. canary-demo-server: a pre-forked process tree on a real
// socket, answered by cpp-httplib's client, with the aggregator and canary-ctl looking at the same
// segment. canary-minimal-worker: the three calls of docs/getting-started.md.
#include <httplib.h>
#include <signal.h>

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "canary/segment.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::AggregatorProcess;
using testing::run_tool;
using testing::ServerProcess;
using namespace std::chrono_literals;

const char* const kSeedUser = "test_canary_user";
const char* const kSeedBody = R"({"user_id": "test_canary_user", "query": "test query"})";

class DemoServer : public ::testing::Test {
 protected:
  DemoServer() : name(testing::unique_segment_name("demo")) { EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0); }
  ~DemoServer() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  std::string status(const std::string& key) { return testing::status_value(ctl({"status"}).out, key); }
  std::unique_ptr<ServerProcess> serve(std::vector<std::string> extra = {}, const std::string& segment = "") {
    std::vector<std::string> args = {CANARY_DEMO_SERVER_PATH, "--segment", segment.empty() ? name : segment,
                                     "--port",                "0",        "--workers",
                                     "2",                     "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ServerProcess>(args);
    EXPECT_TRUE(p->started()) << p->output();
    return p;
  }
  static json body(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }
  // The workers the master said it started: in its "listening on" line and when it replaced one.
  static std::vector<pid_t> worker_pids(const ServerProcess& server) {
    const std::string& out = server.output();
    std::istringstream pids(out.substr(out.find("(pids ") + 6));
    std::vector<pid_t> result;
    for (pid_t p; pids >> p;) result.push_back(p);
    for (auto at = out.find("started worker "); at != std::string::npos; at = out.find("started worker ", at + 1))
      result.push_back(std::stoi(out.substr(at + 15)));
    return result;
  }

  std::string name;
};

TEST_F(DemoServer, TheSeedsCurlExampleAnswersWithTheVersionTheRouterChose) {
  auto server = serve();
  httplib::Client http("127.0.0.1", server->port());
  auto r = http.Post("/api/v2/recommend/personalized", kSeedBody, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const std::string expected = ctl({"route", "--user", kSeedUser, "--path", "/api/v2/recommend/personalized"}).out;
  EXPECT_EQ(body(r)["version"].get<std::string>() + "\n", expected);
  EXPECT_EQ(body(r)["endpoint"], "/api/v2/recommend/personalized");
  EXPECT_TRUE(body(r).contains("recommendations"));

  // Pinned to the canary, the same request is served by the canary handler.
  ASSERT_EQ(ctl({"pin", "--user", kSeedUser, "--version", "canary"}).exit_code, 0);
  r = http.Post("/api/v2/recommend/personalized", kSeedBody, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body(r)["version"], "canary");
  EXPECT_EQ(body(r)["algorithm"], "hybrid-ranker-v4");
  EXPECT_EQ(r->get_header_value("X-Canary-Version"), "canary");
}

TEST_F(DemoServer, EveryEndpointIsRoutedAndRecordedUnderItsTemplate) {
  ASSERT_EQ(ctl({"set-percentage", "50"}).exit_code, 0);
  auto server = serve();
  httplib::Client http("127.0.0.1", server->port());
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"POST", "/api/v2/recommend/personalized"},   {"POST", "/api/v2/recommend/compare"},
      {"POST", "/api/v2/conversations/start"},      {"POST", "/api/v2/conversations/s-1/turn"},
      {"GET", "/api/v2/conversations/s-1"},         {"POST", "/api/v2/conversations/s-1/close"},
      {"GET", "/api/v2/conversations"},
  };
  const std::vector<std::string> templates = {
      "/api/v2/recommend/personalized", "/api/v2/recommend/compare",  "/api/v2/conversations/start",
      "/api/v2/conversations/{session_id}/turn", "/api/v2/conversations/{session_id}",
      "/api/v2/conversations/{session_id}/close", "/api/v2/conversations"};
  std::vector<std::string> users;
  for (int u = 0; u < 40; ++u) users.push_back("user-" + std::to_string(u));
  std::map<std::string, std::map<std::string, int>> served;  // template -> version -> count
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& [method, path] = requests[i];
    const std::vector<std::string> expected = testing::route_users(CANARY_CTL_PATH, name, users, path);
    ASSERT_EQ(expected.size(), users.size()) << path;
    for (std::size_t u = 0; u < users.size(); ++u) {
      auto r = method == "GET" ? http.Get(path + "?user_id=" + users[u])
                               : http.Post(path, R"({"user_id": ")" + users[u] + R"("})", "application/json");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << path;
      EXPECT_EQ(body(r)["endpoint"], templates[i]);
      EXPECT_EQ(body(r)["version"], expected[u]) << users[u] << " " << path;
      ++served[templates[i]][body(r)["version"]];
    }
  }
  // Both versions served, and what the workers recorded is exactly what they answered.
  EXPECT_GT(served["/api/v2/recommend/compare"]["canary"], 0);
  EXPECT_GT(served["/api/v2/recommend/compare"]["legacy"], 0);
  const json dump = json::parse(run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"}).out);
  for (const std::string& t : templates)
    for (const char* v : {"legacy", "canary"})
      EXPECT_EQ(dump.at("endpoints").at(t).at(v).at("requests"), served[t][v]) << t << " " << v;
}

TEST_F(DemoServer, XCanaryVersionForcesTheVersionAndIsRecordedAsIt) {
  ASSERT_EQ(ctl({"set-percentage", "0"}).exit_code, 0);
  auto server = serve();
  httplib::Client http("127.0.0.1", server->port());
  auto r = http.Post("/api/v2/recommend/compare", {{"X-Canary-Version", "canary"}}, R"({"user_id": "bob"})",
                     "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body(r)["version"], "canary");
  r = http.Post("/api/v2/recommend/compare", {{"X-Canary-Version", "nonsense"}}, R"({"user_id": "bob"})",
                "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body(r)["version"], "legacy");
  const json dump = json::parse(run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"}).out);
  EXPECT_EQ(dump.at("totals").at("canary").at("requests"), 1);
  EXPECT_EQ(dump.at("totals").at("legacy").at("requests"), 1);
}

TEST_F(DemoServer, TheSeedsAdminUrlOnTheDemoPortAnswersWhatTheAggregatorPublished) {
  auto server = serve();
  httplib::Client http("127.0.0.1", server->port());
  auto r = http.Get("/api/v2/admin/canary/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << "no aggregator yet";

  auto aggregator = std::make_unique<AggregatorProcess>(name, std::vector<std::string>{"--interval-ms", "100"});
  ASSERT_TRUE(aggregator->started()) << aggregator->output();
  for (int u = 0; u < 400; ++u)
    ASSERT_TRUE(http.Post("/api/v2/recommend/personalized", R"({"user_id": "u)" + std::to_string(u) + R"("})",
                          "application/json"));
  std::this_thread::sleep_for(400ms);  // four intervals: drained, digested, published

  const json from_demo = body(http.Get("/api/v2/admin/canary/metrics"));
  httplib::Client admin("127.0.0.1", aggregator->port());
  const json from_aggregator = body(admin.Get("/api/v2/admin/canary/metrics"));
  ASSERT_TRUE(from_demo.is_object());
  EXPECT_EQ(from_demo["legacy"]["request_count"].get<int>() + from_demo["canary"]["request_count"].get<int>(), 400);
  for (const char* v : {"legacy", "canary"})
    for (const char* key : {"request_count", "error_count", "error_rate", "avg_response_time_ms",
                            "p95_response_time_ms", "p99_response_time_ms"})
      EXPECT_EQ(from_demo[v][key], from_aggregator[v][key]) << v << " " << key;
  EXPECT_EQ(from_demo["comparison"], from_aggregator["comparison"]);

  r = http.Get("/api/v2/admin/canary/metrics?window=5m");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = http.Get("/api/v2/admin/canary/metrics?window=7m");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(body(r)["error"].get<std::string>().find("window"), std::string::npos);
}

// SPEC section 10a's worked example: personalized recommendations under a running experiment
// expose each user's arm, and the simulated clicks (every control user, no treatment user) come
// out as the results' means.
TEST_F(DemoServer, PersonalizedRecommendationsExposeTheUsersArmAndRecordClicks) {
  ASSERT_EQ(ctl({"experiment", "create", "reco", "--arms", "control:50,treatment:50", "--metric", "clicks:conversion"}).exit_code, 0);
  ASSERT_EQ(ctl({"experiment", "start", "reco"}).exit_code, 0);
  auto aggregator = std::make_unique<AggregatorProcess>(name, std::vector<std::string>{"--interval-ms", "100"});
  ASSERT_TRUE(aggregator->started()) << aggregator->output();
  auto server = serve({"--click-rates", "1,0"});
  httplib::Client http("127.0.0.1", server->port());
  int arms[2] = {0, 0};
  // 600 users: with every control user clicking and no treatment user, the difference's interval
  // excludes zero for any split within 4 sd of 50/50 (at 300 a 46/54 split still straddles it).
  constexpr int kUsers = 600;
  for (int u = 0; u < kUsers; ++u) {
    const json b = body(http.Post("/api/v2/recommend/personalized", R"({"user_id": "u)" + std::to_string(u) + R"("})", "application/json"));
    ASSERT_TRUE(b.contains("experiments")) << b.dump();
    ++arms[b["experiments"]["reco"] == "control" ? 0 : 1];
  }
  json r;
  httplib::Client admin("127.0.0.1", aggregator->port());
  for (int i = 0; i < 50; ++i, std::this_thread::sleep_for(100ms)) {
    r = body(admin.Get("/api/v2/admin/canary/experiments/reco"));
    if (r.is_object() && r["arms"][0]["users"].get<int>() + r["arms"][1]["users"].get<int>() == kUsers) break;
  }
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["arms"][0]["users"], arms[0]);
  EXPECT_EQ(r["arms"][1]["users"], arms[1]);
  EXPECT_EQ(r["arms"][0]["exposures"], arms[0]);
  EXPECT_EQ(r["arms"][0]["metrics"]["clicks"]["mean"], 1.0);
  EXPECT_EQ(r["arms"][1]["metrics"]["clicks"]["mean"], 0.0);
  EXPECT_EQ(r["arms"][1]["verdict"], "control_better") << r.dump(2);
  const auto refused = run_tool(CANARY_DEMO_SERVER_PATH, {"--segment", name, "--click-rates", "1,2"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("--click-rates"), std::string::npos) << refused.err;
}

// SPEC section 10's done-when: a version added on a running demo gets about its share of users
// without a restart, and the metrics JSON on the demo port shows it.
TEST_F(DemoServer, AVersionAddedWhileItRunsGetsItsShareAndShowsInTheMetrics) {
  auto server = serve();
  auto aggregator = std::make_unique<AggregatorProcess>(name, std::vector<std::string>{"--interval-ms", "100"});
  ASSERT_TRUE(aggregator->started()) << aggregator->output();
  ASSERT_EQ(ctl({"version", "add", "canary2", "--share", "2"}).exit_code, 0);
  httplib::Client http("127.0.0.1", server->port());
  int canary2 = 0;
  constexpr int kUsers = 3000;
  for (int u = 0; u < kUsers; ++u) {
    auto r = http.Post("/api/v2/recommend/compare", R"({"user_id": "u)" + std::to_string(u) + R"("})", "application/json");
    ASSERT_TRUE(r);
    canary2 += body(r)["version"] == "canary2" ? 1 : 0;
  }
  EXPECT_NEAR(100.0 * canary2 / kUsers, 2.0, 1.0);  // 4 sd at 3,000 users: 1 point
  auto forced = http.Post("/api/v2/recommend/compare", {{"X-Canary-Version", "canary2"}}, R"({"user_id": "bob"})",
                          "application/json");
  ASSERT_TRUE(forced);
  EXPECT_EQ(body(forced)["version"], "canary2");
  std::this_thread::sleep_for(400ms);  // four intervals: drained, digested, published
  const json metrics = body(http.Get("/api/v2/admin/canary/metrics"));
  ASSERT_TRUE(metrics.contains("versions")) << metrics.dump();
  EXPECT_EQ(metrics["versions"]["canary2"]["request_count"].get<int>(), canary2 + 1);
  EXPECT_TRUE(metrics["comparisons"].contains("canary2"));
}

TEST_F(DemoServer, AnInjectedCanaryRegressionIsRolledBackByTheAggregator) {
  ASSERT_EQ(ctl({"set-percentage", "20"}).exit_code, 0);
  auto aggregator = std::make_unique<AggregatorProcess>(name, std::vector<std::string>{"--interval-ms", "100"});
  ASSERT_TRUE(aggregator->started()) << aggregator->output();
  auto server = serve({"--canary-error-rate", "0.5"});
  httplib::Client http("127.0.0.1", server->port());
  int canary_errors = 0;
  // Until the rollback: at most 20,000 requests, which 50% failures at a 20% share need far less of.
  for (int u = 0; u < 20000; ++u) {
    auto r = http.Post("/api/v2/recommend/compare", R"({"user_id": "u)" + std::to_string(u) + R"("})", "application/json");
    ASSERT_TRUE(r);
    if (r->status == 500) {
      ++canary_errors;
      EXPECT_EQ(body(r)["version"], "canary");
    }
    if (u % 200 == 199 && status("state") != "running") break;
  }
  EXPECT_GT(canary_errors, 0);
  EXPECT_EQ(status("state"), "rolled_back");
  EXPECT_EQ(status("canary_percentage"), "0");
  // Every request after the rollback is served legacy.
  for (int u = 0; u < 50; ++u) {
    auto r = http.Post("/api/v2/recommend/compare", R"({"user_id": "u)" + std::to_string(u) + R"("})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(body(r)["version"], "legacy");
  }
}

TEST_F(DemoServer, TheDemoControlSwitchesEveryWorkerAndRefusesBadBodies) {
  ASSERT_EQ(ctl({"set-percentage", "100"}).exit_code, 0);
  auto server = serve();
  httplib::Client http("127.0.0.1", server->port());
  auto r = http.Post("/demo/control", R"({"canary_error_rate": 1.5})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = http.Post("/demo/control", "not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(body(http.Get("/demo/control"))["canary_error_rate"], 0.0) << "a refused body changes nothing";

  ASSERT_EQ(http.Post("/demo/control", R"({"canary_error_rate": 1, "recording": false})", "application/json")->status, 200);
  // Fresh connections, each served by whichever worker accepts it: every one fails.
  for (int i = 0; i < 20; ++i) {
    httplib::Client fresh("127.0.0.1", server->port());
    r = fresh.Post("/api/v2/recommend/compare", R"({"user_id": "u)" + std::to_string(i) + R"("})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
  }
  const json dump = json::parse(run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"}).out);
  EXPECT_EQ(dump["totals"].value("canary", json::object()).value("requests", 0), 0) << "recording was off";
}

TEST_F(DemoServer, BadRequestsGetAFourHundredNamingTheProblem) {
  auto server = serve();
  httplib::Client http("127.0.0.1", server->port());
  const std::string huge(2000, 'u');
  const std::pair<std::string, std::string> cases[] = {
      {"", "user_id is required"},
      {"{}", "user_id is required"},
      {"not json", "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {R"({"user_id": 42})", "user_id must be a string"},
      {R"({"user_id": ""})", "user_id is empty"},
      {R"({"user_id": ")" + huge + R"("})", "user_id is 2000 bytes, at most 1024"},
  };
  for (const auto& [bad, why] : cases) {
    auto r = http.Post("/api/v2/recommend/personalized", bad, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(body(r)["error"].get<std::string>().find(why), std::string::npos) << r->body;
  }
  auto r = http.Get("/api/v2/conversations?user_id=");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(body(r)["error"], "user_id is empty");

  r = http.Post("/api/v2/recommend/compare", {{"X-Canary-Version", "banana"}}, R"({"user_id": "u1"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(body(r)["error"], "X-Canary-Version must be legacy or canary, not 'banana'");

  r = http.Get("/api/v2/unknown");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(body(r)["error"], "no such resource: GET /api/v2/unknown");

  r = http.Post("/api/v2/conversations/start", R"({"user_id": "u1", "query": ")" + std::string(70'000, 'q') + R"("})",
                "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(body(r)["error"], "the body is larger than 64 KiB");

  for (const auto& [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {R"({"canary_extra_latency_ms": 4294967296})", "canary_extra_latency_ms must be a whole number from 0 to 60000"},
           {R"({"work_us": -1})", "work_us must be a whole number"},
           {R"({"recording": "yes"})", "recording must be true or false"},
           {R"({"canary_eror_rate": 0.1})", "unknown field 'canary_eror_rate'"}}) {
    r = http.Post("/demo/control", bad, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(body(r)["error"].get<std::string>().find(why), std::string::npos) << r->body;
  }
  const json control = body(http.Get("/demo/control"));
  EXPECT_EQ(control["canary_extra_latency_ms"], 0) << "a refused body changes nothing";
  EXPECT_EQ(control["work_us"], 0);
  EXPECT_EQ(control["recording"], true);
}

TEST_F(DemoServer, AWorkerKilledWithSigkillIsReplacedAndServingGoesOn) {
  auto server = serve();
  const std::vector<pid_t> workers = worker_pids(*server);
  ASSERT_EQ(workers.size(), 2u) << server->output();
  ASSERT_EQ(kill(workers[0], SIGKILL), 0);
  EXPECT_TRUE(server->wait_for_output("started worker", 5s)) << server->output();
  for (int i = 0; i < 20; ++i) {
    httplib::Client fresh("127.0.0.1", server->port());
    auto r = fresh.Post("/api/v2/recommend/personalized", kSeedBody, "application/json");
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
  }
  // SIGTERM to the master stops every worker.
  EXPECT_EQ(server->stop(), 0);
  const std::vector<pid_t> all = worker_pids(*server);
  EXPECT_EQ(all.size(), 3u) << server->output();
  for (pid_t p : all) EXPECT_NE(kill(p, 0), 0) << "worker " << p << " outlived the master";
}

TEST_F(DemoServer, WithoutASegmentItServesEveryoneLegacy) {
  auto server = serve({}, testing::unique_segment_name("absent"));
  EXPECT_NE(server->output().find("serving everyone legacy"), std::string::npos) << server->output();
  httplib::Client http("127.0.0.1", server->port());
  auto r = http.Post("/api/v2/recommend/personalized", kSeedBody, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body(r)["version"], "legacy");
}

TEST_F(DemoServer, BadFlagsAreRefusedInOneLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--port", "70000"}, {"--workers", "0"}, {"--canary-error-rate", "2"}, {"--canary-error-rate", "nan"},
           {"--threads", "x"}, {"--no-such-flag"}}) {
    const auto result = run_tool(CANARY_DEMO_SERVER_PATH, args);
    EXPECT_EQ(result.exit_code, 1) << args[0];
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

TEST_F(DemoServer, TheMinimalWorkerExampleRecordsEveryRequestItServes) {
  const auto run = run_tool(CANARY_MINIMAL_WORKER_PATH, {name, "3", "500"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json dump = json::parse(run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"}).out);
  const json& turn = dump.at("endpoints").at("/api/v2/conversations/{session_id}/turn");
  EXPECT_EQ(turn.at("legacy").at("requests").get<int>() + turn.at("canary").at("requests").get<int>(), 1500);
  EXPECT_GT(turn.at("canary").at("requests").get<int>(), 0);
  EXPECT_EQ(turn.at("legacy").at("errors"), 0);
}

}  // namespace
}  // namespace canary
