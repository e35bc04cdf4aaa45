// SPDX-License-Identifier: Apache-2.0
// The aggregator as a user meets it: a real process, its HTTP API, its restarts.
#include <httplib.h>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "server_process.hpp"
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

class AggregatorApi : public ::testing::Test {
 protected:
  AggregatorApi() : name(testing::unique_segment_name("api")) {
    EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  }
  ~AggregatorApi() override {
    (void)Segment::destroy(name);
  }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  testing::ToolResult loadgen(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_LOADGEN_PATH, args);
  }
  std::unique_ptr<AggregatorProcess> start(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--interval-ms", "100"});
    auto p = std::make_unique<AggregatorProcess>(name, extra);
    EXPECT_TRUE(p->started()) << p->output();
    return p;
  }
  // Waits two intervals, so what was recorded has been drained and summed.
  static void settle() { std::this_thread::sleep_for(300ms); }

  static json body(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }
  std::uint64_t generation() { return std::stoull(status_line("generation")); }
  std::string status_line(const std::string& key) { return testing::status_value(ctl({"status"}).out, key); }
  std::string write_file(const std::string& file, const std::string& text) {
    const std::string path = dir + "/" + file;
    std::ofstream(path) << text;
    return path;
  }

  std::string name;
  testing::ScratchDir scratch{"api"};
  const std::string& dir = scratch.path;
};

TEST_F(AggregatorApi, ReplayingTheSeedsExampleTrafficGivesTheSeedsResponseFieldByField) {
  auto agg = start();
  const auto csv = run_tool("/bin/sh", {CANARY_SOURCE_DIR "/examples/seed-example-traffic.sh"});
  ASSERT_EQ(csv.exit_code, 0);
  ASSERT_EQ(loadgen({"--replay", write_file("seed.csv", csv.out)}).exit_code, 0);
  settle();
  httplib::Client http("127.0.0.1", agg->port());
  const json m = body(http.Get("/api/v2/admin/canary/metrics"));
  const json expected_legacy = {{"version", "legacy"},           {"request_count", 9500},
                                {"error_count", 5},              {"error_rate", "0.05%"},
                                {"avg_response_time_ms", "250.00"}, {"p95_response_time_ms", "450.00"},
                                {"p99_response_time_ms", "600.00"}};
  const json expected_canary = {{"version", "canary"},           {"request_count", 500},
                                {"error_count", 1},              {"error_rate", "0.20%"},
                                {"avg_response_time_ms", "230.00"}, {"p95_response_time_ms", "420.00"},
                                {"p99_response_time_ms", "550.00"}};
  for (const auto& [key, value] : expected_legacy.items()) EXPECT_EQ(m["legacy"][key], value) << key;
  for (const auto& [key, value] : expected_canary.items()) EXPECT_EQ(m["canary"][key], value) << key;
  const json& c = m["comparison"];
  EXPECT_EQ(c["error_rate_difference"], "+0.15%");
  EXPECT_EQ(c["response_time_improvement"], "+8.00%");
  EXPECT_EQ(c["canary_p95_response_time"], "420.00ms");
  EXPECT_EQ(c["legacy_p95_response_time"], "450.00ms");
  EXPECT_EQ(c["traffic_split"], json({{"legacy_requests", 9500},
                                      {"canary_requests", 500},
                                      {"legacy_percentage", "95.0%"},
                                      {"canary_percentage", "5.0%"}}));

  const json e = body(http.Get("/api/v2/admin/canary/endpoints"));
  EXPECT_EQ(e["/api/v2/recommend/personalized"]["legacy"]["request_count"], 9500);
  EXPECT_EQ(e["/api/v2/conversations/{session_id}/turn"]["canary"]["error_rate"], "0.20%");
  EXPECT_EQ(e["/api/v2/recommend/compare"]["legacy"]["request_count"], 0);
  EXPECT_EQ(e["/api/v2/recommend/compare"]["legacy"]["avg_response_time_ms"], "0.00");
  EXPECT_EQ(body(http.Get("/api/v2/admin/canary/metrics?window=5m"))["legacy"]["request_count"], 9500);
  auto bad_window = http.Get("/api/v2/admin/canary/metrics?window=7d");
  EXPECT_EQ(bad_window->status, 400);
  EXPECT_EQ(body(bad_window)["field"], "window");
}

TEST_F(AggregatorApi, AVersionWithoutRequestsShowsZerosAndComparisonsSayNA) {
  auto agg = start();
  httplib::Client http("127.0.0.1", agg->port());
  const json m = body(http.Get("/api/v2/admin/canary/metrics"));
  EXPECT_EQ(m["canary"]["error_rate"], "0.00%");
  EXPECT_EQ(m["canary"]["p95_response_time_ms"], "0.00");
  EXPECT_EQ(m["comparison"]["error_rate_difference"], "n/a");
  EXPECT_EQ(m["comparison"]["traffic_split"]["canary_percentage"], "n/a");
}

TEST_F(AggregatorApi, TheConfigCanBeReadAndChanged) {
  auto agg = start();
  httplib::Client http("127.0.0.1", agg->port());
  const json c = body(http.Get("/api/v2/admin/canary/config"));
  for (const char* key : {"enabled", "canary_percentage", "endpoints_to_canary", "hash", "salt", "state", "generation"})
    EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_EQ(c["canary_percentage"], 5);
  EXPECT_EQ(c["endpoints_to_canary"].size(), 7u);

  auto put = http.Put("/api/v2/admin/canary/config", R"({"canary_percentage": 12.5, "enabled": false})", "application/json");
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(body(put)["canary_percentage"], 12.5);
  EXPECT_EQ(status_line("canary_percentage"), "12.5");
  EXPECT_EQ(status_line("enabled"), "false");
  EXPECT_NE(status_line("changed_by").find("admin API PUT"), std::string::npos);

  put = http.Put("/api/v2/admin/canary/config",
                 R"({"endpoints_to_canary": ["/api/v2/recommend/compare", "/api/v2/brand_new/{id}"]})", "application/json");
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(body(put)["endpoints_to_canary"], json({"/api/v2/recommend/compare", "/api/v2/brand_new/{id}"}));

  auto post = http.Post("/api/v2/admin/canary/config/endpoints", R"({"path": "/api/v2/recommend/personalized"})", "application/json");
  ASSERT_EQ(post->status, 200) << post->body;
  auto del = http.Delete("/api/v2/admin/canary/config/endpoints", R"({"path": "/api/v2/recommend/compare"})", "application/json");
  ASSERT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(body(del)["endpoints_to_canary"], json({"/api/v2/recommend/personalized", "/api/v2/brand_new/{id}"}));
}

TEST_F(AggregatorApi, BadInputGetsA4xxNamingTheFieldAndChangesNothing) {
  auto agg = start();
  httplib::Client http("127.0.0.1", agg->port());
  const std::uint64_t before = generation();
  const std::vector<std::tuple<std::string, int, std::string>> puts = {
      {R"({"canary_percentage": "abc"})", 400, "canary_percentage"},
      {R"({"canary_percentage": 101})", 400, "canary_percentage"},
      {R"({"canary_percentage": -1})", 400, "canary_percentage"},
      {R"({"canary_percentage": 5.123})", 400, "canary_percentage"},
      {R"({"canary_percentage": 1e400})", 400, ""},
      {R"({"canary_percentage": true})", 400, "canary_percentage"},
      {R"({"enabled": "yes"})", 400, "enabled"},
      {R"({"endpoints_to_canary": "/a"})", 400, "endpoints_to_canary"},
      {R"({"endpoints_to_canary": ["/ok", "no-slash"]})", 400, "endpoints_to_canary"},
      {R"({"endpoints_to_canary": ["/../../etc/passwd"]})", 400, "endpoints_to_canary"},
      {R"({"enabled": true, "colour": "blue"})", 400, "colour"},
      {R"({})", 400, ""},
      {R"([1, 2])", 400, ""},
      {R"({"canary_percentage": 10)", 400, ""},
      {"", 400, ""},
  };
  for (const auto& [text, status, field] : puts) {
    auto r = http.Put("/api/v2/admin/canary/config", text, "application/json");
    ASSERT_TRUE(r) << text;
    EXPECT_EQ(r->status, status) << text << " -> " << r->body;
    const json b = body(r);
    EXPECT_TRUE(b.contains("error")) << r->body;
    if (!field.empty()) {
      EXPECT_EQ(b["field"], field) << text;
    }
  }
  auto unknown = http.Delete("/api/v2/admin/canary/config/endpoints", R"({"path": "/api/v2/never"})", "application/json");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(body(unknown)["field"], "path");
  auto bad_path = http.Post("/api/v2/admin/canary/config/endpoints", R"({"path": ""})", "application/json");
  EXPECT_EQ(bad_path->status, 400);
  EXPECT_EQ(body(bad_path)["field"], "path");
  auto dots = http.Post("/api/v2/admin/canary/config/endpoints", R"({"path": "/api/./v2"})", "application/json");
  EXPECT_EQ(dots->status, 400);
  EXPECT_NE(body(dots)["error"].get<std::string>().find("'.' or '..'"), std::string::npos) << dots->body;
  auto huge = http.Put("/api/v2/admin/canary/config", std::string(70 * 1024, ' ') + "{}", "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_EQ(generation(), before);
  EXPECT_EQ(status_line("canary_percentage"), "5");
}

// Every route that takes a body refuses a field it does not know, by name, and changes nothing:
// a typo must not leave a default in force behind a success.
TEST_F(AggregatorApi, AnUnknownFieldIsRefusedByNameOnEveryRoute) {
  auto agg = start();
  httplib::Client http("127.0.0.1", agg->port());
  const std::string api = "/api/v2/admin/canary";
  const std::vector<std::tuple<std::string, std::string, std::string>> posts = {
      {api + "/experiments", R"({"name": "reco", "arms": "control:50,treatment:50", "exposur": "20"})", "exposur"},
      {api + "/start", R"({"shar": 10})", "shar"},
      {api + "/rollback", R"({"reasn": "x"})", "reasn"},
      {api + "/config/endpoints", R"({"path": "/a", "canary": true})", "canary"},
      {api + "/versions", R"({"name": "v2", "shares": 1})", "shares"},
      {api + "/switch", R"({"too": "canary"})", "too"},
      {api + "/srm/clear", R"({"verison": "canary"})", "verison"},
  };
  const std::uint64_t before = generation();
  for (const auto& [path, text, field] : posts) {
    auto r = http.Post(path, text, "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path << " " << text << " -> " << r->body;
    EXPECT_EQ(body(r)["field"], field) << path << " -> " << r->body;
  }
  EXPECT_EQ(generation(), before) << "nothing changed";
  EXPECT_EQ(http.Get(api + "/experiments/reco")->status, 404) << "the experiment with a typo was not created";
  // The experiment commands take only their own fields.
  ASSERT_EQ(http.Post(api + "/experiments", R"({"name": "reco", "arms": "control:50,treatment:50"})", "application/json")->status, 201);
  for (const auto& [action, text, field] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"start", R"({"reason": "x"})", "reason"},
                                                                      {"stop", R"({"arm": "control"})", "arm"},
                                                                      {"conclude", R"({"arm": "control", "why": "x"})", "why"},
                                                                      {"stop", R"({"reason": 5})", "reason"}}) {
    auto r = http.Post(api + "/experiments/reco/" + action, text, "application/json");
    EXPECT_EQ(r->status, 400) << action << " " << text << " -> " << r->body;
    EXPECT_EQ(body(r)["field"], field) << r->body;
  }
  EXPECT_EQ(body(http.Get(api + "/experiments/reco"))["state"], "draft");
  EXPECT_EQ(http.Post(api + "/experiments/reco/start", "", "application/json")->status, 200);
}

TEST_F(AggregatorApi, MutatingCallsNeedTheTokenComparedInConstantTime) {
  auto agg = start({"--admin-token-file", write_file("token", "  s3cret-token \nsecond line ignored\n")});
  httplib::Client http("127.0.0.1", agg->port());
  const std::string change = R"({"canary_percentage": 7})";
  EXPECT_EQ(http.Put("/api/v2/admin/canary/config", change, "application/json")->status, 401);
  EXPECT_EQ(http.Put("/api/v2/admin/canary/config", {{"Authorization", "Bearer wrong"}}, change, "application/json")->status, 401);
  EXPECT_EQ(http.Put("/api/v2/admin/canary/config", {{"Authorization", "s3cret-token"}}, change, "application/json")->status, 401);
  EXPECT_EQ(status_line("canary_percentage"), "5");
  EXPECT_EQ(http.Put("/api/v2/admin/canary/config", {{"Authorization", "Bearer s3cret-token"}}, change, "application/json")->status, 200);
  EXPECT_EQ(status_line("canary_percentage"), "7");
  EXPECT_EQ(http.Get("/api/v2/admin/canary/config")->status, 200);  // reads need none
}

TEST_F(AggregatorApi, ATokenFileEveryUserMayReadIsWarnedOf) {
  const std::string token = write_file("open-token", "s3cret\n");
  ASSERT_EQ(chmod(token.c_str(), 0644), 0);
  {
    auto agg = start({"--admin-token-file", token});
    EXPECT_TRUE(testing::wait_until([&] { return agg->output().find("readable by every local user") != std::string::npos; }, 5s))
        << agg->output();
    EXPECT_NE(agg->output().find("mode=0644"), std::string::npos) << agg->output();
  }
  ASSERT_EQ(chmod(token.c_str(), 0600), 0);
  auto agg = start({"--admin-token-file", token});
  EXPECT_EQ(agg->output().find("readable by every local user"), std::string::npos) << agg->output();
}

TEST_F(AggregatorApi, AnEmptyTokenFileIsRefusedAtStart) {
  AggregatorProcess agg(name, {"--admin-token-file", write_file("empty", "\n")});
  EXPECT_FALSE(agg.started());
  EXPECT_EQ(agg.wait_exit(), 1);
  EXPECT_NE(agg.output().find("is empty"), std::string::npos) << agg.output();
}

TEST_F(AggregatorApi, ServesHttpsWithTheGivenCertificate) {
  const std::string key = dir + "/key.pem", cert = dir + "/cert.pem";
  ASSERT_EQ(run_tool("/usr/bin/openssl", {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                          "-days", "1", "-subj", "/CN=127.0.0.1"})
                .exit_code,
            0);
  auto agg = start({"--tls-cert", cert, "--tls-key", key});
  httplib::SSLClient https("127.0.0.1", agg->port());
  https.enable_server_certificate_verification(false);
  auto r = https.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  httplib::Client plain("127.0.0.1", agg->port());
  auto refused = plain.Get("/healthz");
  EXPECT_TRUE(!refused || refused->status != 200);
}

TEST_F(AggregatorApi, MetricsPassPromtoolAndCarryTheSpecFamilies) {
  auto agg = start();
  ASSERT_EQ(loadgen({"--workers", "2", "--requests", "5000"}).exit_code, 0);
  settle();
  httplib::Client http("127.0.0.1", agg->port());
  auto r = http.Get("/metrics");
  ASSERT_EQ(r->status, 200);
  const std::string path = write_file("metrics.txt", r->body);
  const auto check = run_tool("/bin/sh", {"-c", "promtool check metrics < " + path});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  for (const char* family :
       {"canary_requests_total{", "canary_unavailable_total{", "canary_request_duration_seconds_bucket{",
        "canary_request_duration_seconds_sum{", "canary_request_duration_seconds_count{",
        "canary_request_duration_digest_seconds{", "canary_ring_dropped_records_total", "canary_share_ratio 0.05",
        "canary_deployment_state{state=\"running\"} 1", "canary_aggregator_last_drain_timestamp_seconds",
        "canary_build_info{version=\"" CANARY_PROJECT_VERSION "\",", "process_cpu_seconds_total ",
        "process_resident_memory_bytes ", "process_virtual_memory_bytes ", "process_open_fds ", "process_max_fds ",
        "process_start_time_seconds "})
    EXPECT_NE(r->body.find(family), std::string::npos) << family;
  // One unit per name: the checks' values are ratios, seconds or requests, never percent or ms.
  if (r->body.find("canary_gate_holds ") != std::string::npos) {
    EXPECT_NE(r->body.find("canary_decision_check_value_ratio{"), std::string::npos);
    EXPECT_NE(r->body.find("canary_decision_check_threshold_seconds{kind=\"trigger\",check=\"canary_p95_ms\""),
              std::string::npos);
    // Rate checks carry their design effect; latency checks do not.
    EXPECT_NE(r->body.find("canary_decision_check_design_effect{kind=\"trigger\",check=\"canary_error_rate\",window=\"step\"}"),
              std::string::npos);
    EXPECT_EQ(r->body.find("canary_decision_check_design_effect{kind=\"trigger\",check=\"canary_p95_ms\""), std::string::npos);
  }
  EXPECT_EQ(r->body.find("canary_decision_check_value{"), std::string::npos);
  EXPECT_NE(r->body.find("quantile=\"0.95\""), std::string::npos);
  EXPECT_NE(r->body.find("code=\"2xx\""), std::string::npos);
  EXPECT_EQ(http.Get("/healthz")->status, 200);
}

TEST_F(AggregatorApi, KilledUnderLoadAndRestartedItStillCountsExactlyAndKeepsItsDigests) {
  auto agg = start({"--state-dir", dir, "--checkpoint-s", "1"});
  // Load for about 3 s while the aggregator is killed and restarted.
  testing::ToolResult truth;
  std::thread load([&] { truth = loadgen({"--workers", "2", "--requests", "15000", "--rate", "5000"}); });
  // Killed right after a checkpoint written under load, so what the digests lose in between is
  // small: a fixed sleep raced the checkpoint on a busy machine.
  const std::string checkpoint = dir + "/" + name + ".checkpoint";
  std::this_thread::sleep_for(1000ms);
  std::error_code ec;
  const auto before = std::filesystem::last_write_time(checkpoint, ec);
  for (int i = 0; i < 1000; ++i) {
    const auto now = std::filesystem::last_write_time(checkpoint, ec);
    if (!ec && now != before) break;
    std::this_thread::sleep_for(2ms);
  }
  agg->kill_hard();
  const auto dead = run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"});
  EXPECT_EQ(json::parse(dead.out)["aggregator"]["status"], "dead");
  agg = start({"--state-dir", dir, "--checkpoint-s", "1"});
  EXPECT_NE(agg->output().find("restored from"), std::string::npos) << agg->output();
  load.join();
  ASSERT_EQ(truth.exit_code, 0) << truth.err;
  settle();
  httplib::Client http("127.0.0.1", agg->port());
  const json m = body(http.Get("/api/v2/admin/canary/metrics"));
  const json t = json::parse(truth.out)["totals"];
  for (const char* version : {"legacy", "canary"}) {
    EXPECT_EQ(m[version]["request_count"], t[version]["requests"]) << version;
    EXPECT_EQ(m[version]["error_count"], t[version]["errors"]) << version;
  }
  // The digests kept what came before the kill: samples beyond what the second run drained.
  EXPECT_GT(m["legacy"]["latency_samples"].get<std::uint64_t>(), 20000u);
  EXPECT_NE(m["legacy"]["p95_response_time_ms"], "n/a");
  const auto alive = run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"});
  EXPECT_EQ(json::parse(alive.out)["aggregator"]["status"], "alive");
  EXPECT_EQ(agg->stop(), 0);
  EXPECT_NE(ctl({"status"}).out.find("aggregator: dead"), std::string::npos);
}

TEST_F(AggregatorApi, ThePublishedSummaryShowsWithoutHttp) {
  auto agg = start();
  ASSERT_EQ(loadgen({"--workers", "1", "--requests", "3000"}).exit_code, 0);
  settle();
  const auto dump = run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"});
  const json s = json::parse(dump.out)["summary"];
  EXPECT_EQ(s["windows"]["all"]["legacy"]["requests"].get<std::uint64_t>() +
                s["windows"]["all"]["canary"]["requests"].get<std::uint64_t>(),
            3000u);
  EXPECT_GT(s["windows"]["5m"]["legacy"]["p95_ms"].get<double>(), 0);
  EXPECT_NE(run_tool(CANARY_DUMP_PATH, {"--segment", name}).out.find("summary ("), std::string::npos);
}

}  // namespace
}  // namespace canary
