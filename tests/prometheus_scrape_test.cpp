// SPDX-License-Identifier: Apache-2.0
// A real Prometheus (Debian's package) scrapes the aggregator's /metrics on loopback; its query API
// must agree with the aggregator: the same request counts, and a histogram_quantile P95 within one
// exported bucket of the aggregator's t-digest P95. The Grafana dashboard and the PromQL of
// docs/operations.md are checked against the same pair: every query names exported families
// and runs on Prometheus.
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <sstream>
#include <set>
#include <thread>

#include "canary/segment.hpp"
#include "free_port.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::AggregatorProcess;
using testing::free_port;
using testing::run_tool;
using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The canary_* names a PromQL expression mentions.
std::set<std::string> metric_names(const std::string& promql) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::set<std::string> names;
  for (auto at = promql.find("canary_"); at != std::string::npos; at = promql.find("canary_", at + 1)) {
    if (at > 0 && word(promql[at - 1])) continue;
    auto end = at;
    while (end < promql.size() && word(promql[end])) ++end;
    names.insert(promql.substr(at, end - at));
    at = end - 1;
  }
  return names;
}

class PrometheusScrape : public ::testing::Test {
 protected:
  PrometheusScrape() : name(testing::unique_segment_name("prom")) {}
  ~PrometheusScrape() override {
    if (prometheus > 0) {
      kill(prometheus, SIGKILL);
      waitpid(prometheus, nullptr, 0);
    }
    (void)Segment::destroy(name);
  }

  void start_prometheus(int target_port) {
    std::ofstream(dir + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n"
                                           << "scrape_configs:\n  - job_name: canary\n"
                                           << "    static_configs:\n      - targets: ['127.0.0.1:" << target_port
                                           << "']\n";
    prometheus_port = free_port();
    prometheus = fork();
    if (prometheus == 0) {
      const std::string log = dir + "/prometheus.log";
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "w", stderr);
      execl(CANARY_PROMETHEUS_PATH, CANARY_PROMETHEUS_PATH, ("--config.file=" + dir + "/prometheus.yml").c_str(),
            ("--storage.tsdb.path=" + dir + "/data").c_str(),
            ("--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)).c_str(), nullptr);
      _exit(127);
    }
  }

  // Prometheus's answer to a PromQL query: {"status": "success", "data": ...} or an error.
  json query_raw(const std::string& promql) {
    httplib::Client http("127.0.0.1", prometheus_port);
    auto r = http.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  // The vector a PromQL query returns, as label value -> sample value.
  std::map<std::string, double> query(const std::string& promql, const std::string& by) {
    const json body = query_raw(promql);
    std::map<std::string, double> result;
    if (!body.is_object() || body.value("status", "") != "success") return result;
    for (const json& sample : body["data"]["result"])
      result[sample["metric"].value(by, "")] = std::stod(sample["value"][1].get<std::string>());
    return result;
  }
  // Starts Prometheus on `aggregator` and waits for two scrapes of it, as Prometheus counts them.
  void scrape_twice(const AggregatorProcess& aggregator) {
    start_prometheus(aggregator.port());
    const std::string scrapes = R"(count_over_time(up{job="canary"}[5m]))";
    const auto deadline = std::chrono::steady_clock::now() + 45s;
    while (std::chrono::steady_clock::now() < deadline && query(scrapes, "job")["canary"] < 2)
      std::this_thread::sleep_for(250ms);
    ASSERT_GE(query(scrapes, "job")["canary"], 2) << prometheus_log();
    EXPECT_EQ(query(R"(up{job="canary"})", "job")["canary"], 1.0) << "the scrape failed";
  }

  static ::testing::AssertionResult prometheus_installed() {
    if (std::filesystem::exists(CANARY_PROMETHEUS_PATH)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << CANARY_PROMETHEUS_PATH
                                         << " is missing: Debian's prometheus package (scripts/install-deps.sh installs it)";
  }

  std::string prometheus_log() {
    std::ifstream in(dir + "/prometheus.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string name;
  testing::ScratchDir scratch{"prom"};
  const std::string& dir = scratch.path;
  pid_t prometheus = -1;
  int prometheus_port = 0;
};

TEST_F(PrometheusScrape, PrometheusSeesTheAggregatorsCountsAndItsP95WithinOneBucket) {
  ASSERT_TRUE(prometheus_installed());
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2"}).exit_code, 0);
  AggregatorProcess aggregator(name, {"--interval-ms", "100"});
  ASSERT_TRUE(aggregator.started()) << aggregator.output();
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "set-percentage", "30"}).exit_code, 0);
  // Latencies spread over several exported buckets; the canary slower, so the two P95s differ.
  const auto load = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--workers", "2", "--requests", "20000",
                                                   "--legacy-latency-ms", "120:0.6", "--canary-latency-ms", "300:0.4"});
  ASSERT_EQ(load.exit_code, 0) << load.err;
  std::this_thread::sleep_for(400ms);  // drained and digested

  httplib::Client admin("127.0.0.1", aggregator.port());
  auto metrics = admin.Get("/api/v2/admin/canary/metrics");
  ASSERT_TRUE(metrics);
  const json seed = json::parse(metrics->body);
  const json truth = json::parse(load.out);

  ASSERT_NO_FATAL_FAILURE(scrape_twice(aggregator));

  const auto requests = query("sum by (version) (canary_requests_total)", "version");
  for (const char* v : {"legacy", "canary"}) {
    EXPECT_EQ(requests.at(v), seed[v]["request_count"].get<double>()) << v;
    EXPECT_EQ(requests.at(v), truth["totals"][v]["requests"].get<double>()) << v;
  }

  // The exported bucket bounds, to measure "within one bucket".
  auto exposition = admin.Get("/metrics");
  ASSERT_TRUE(exposition);
  std::set<double> bounds;
  for (const std::string& line : lines_of(exposition->body)) {
    const auto le = line.find("le=\"");
    if (line.rfind("canary_request_duration_seconds_bucket{", 0) == 0 && le != std::string::npos &&
        line.compare(le + 4, 4, "+Inf") != 0)
      bounds.insert(std::stod(line.substr(le + 4)));
  }
  ASSERT_GT(bounds.size(), 5u);

  // Over the buckets' whole life, as the aggregator's `all` window (the traffic is over; a live
  // dashboard takes rate() over a window instead).
  const auto p95 = query("histogram_quantile(0.95, sum by (version, le) (canary_request_duration_seconds_bucket))", "version");
  for (const char* v : {"legacy", "canary"}) {
    const double digest_s = std::stod(seed[v]["p95_response_time_ms"].get<std::string>()) / 1000.0;
    const auto upper = bounds.lower_bound(digest_s);
    ASSERT_NE(upper, bounds.end());
    const double lower = upper == bounds.begin() ? 0.0 : *std::prev(upper);
    const double width = *upper - lower;
    EXPECT_NEAR(p95.at(v), digest_s, width) << v << ": bucket (" << lower << ", " << *upper << "]";
  }
}

// Every "expr" in the Grafana dashboard: panel targets and annotations.
void collect_queries(const json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "expr" && value.is_string()) out.push_back(value);
      collect_queries(value, out);
    }
  } else if (node.is_array()) {
    for (const json& item : node) collect_queries(item, out);
  }
}

// Every query of the dashboard and every ```promql block of docs/operations.md, with the
// dashboard's $job and $version variables at "All".
std::vector<std::string> documented_queries() {
  std::ifstream file(CANARY_SOURCE_DIR "/docs/grafana-dashboard.json");
  std::vector<std::string> queries;
  collect_queries(json::parse(file, nullptr, false), queries);
  std::ifstream ops_file(CANARY_SOURCE_DIR "/docs/operations.md");
  const std::string ops(std::istreambuf_iterator<char>(ops_file), {});
  for (auto at = ops.find("```promql\n"); at != std::string::npos; at = ops.find("```promql\n", at + 1)) {
    const auto begin = at + 10;
    queries.push_back(ops.substr(begin, ops.find("```", begin) - begin));
  }
  for (std::string& q : queries)
    for (const std::string variable : {"$job", "$version"})
      for (auto at = q.find(variable); at != std::string::npos; at = q.find(variable)) q.replace(at, variable.size(), ".*");
  return queries;
}

// An alert or SLO expression without its final comparison ("... > 0.05"): the number it compares.
std::string without_comparison(const std::string& q) {
  for (const char* op : {" > ", " < ", "\n> ", "\n< "}) {
    const auto at = q.rfind(op);
    if (at != std::string::npos) return q.substr(0, at);
  }
  return q;
}

TEST_F(PrometheusScrape, EveryDocumentedQueryReturnsANumberForAHealthyCanary) {
  ASSERT_TRUE(prometheus_installed());
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2"}).exit_code, 0);
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "set-percentage", "50"}).exit_code, 0);
  AggregatorProcess aggregator(name, {"--interval-ms", "100"});
  ASSERT_TRUE(aggregator.started()) << aggregator.output();
  // A healthy canary, serving while Prometheus scrapes (rates need traffic between scrapes): no
  // errors of any kind on either version. Nothing ever counted a 5xx, a status 0 or a 502-504,
  // and still every error-rate query must answer 0, not nothing.
  testing::ToolResult load;
  std::thread loadgen([&] {
    load = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--workers", "2", "--rate", "400", "--requests", "4000",
                                          "--canary-error-rate", "0", "--legacy-error-rate", "0", "--client-error-rate", "0"});
  });
  std::this_thread::sleep_for(500ms);
  scrape_twice(aggregator);
  // Two more scrapes with traffic between them.
  std::this_thread::sleep_for(2500ms);
  for (const std::string& q : documented_queries()) {
    // A comparison that does not hold (an alert that does not fire) is rightly empty: then the
    // number it compares must be there.
    json answer = query_raw(q);
    if (answer.is_object() && answer["data"]["result"].empty()) answer = query_raw(without_comparison(q));
    ASSERT_EQ(answer.value("status", ""), "success") << q << ": " << answer.dump();
    const json& result = answer["data"]["result"];
    EXPECT_FALSE(result.empty()) << "no series for `" << q << "`";
    for (const json& sample : result) {
      const double value = std::stod(sample["value"][1].get<std::string>());
      EXPECT_TRUE(std::isfinite(value)) << q << " -> " << sample.dump();
    }
  }
  loadgen.join();
  EXPECT_EQ(load.exit_code, 0) << load.err;
  // The error rate of a healthy canary is 0, from series that exist at 0.
  const auto errors = query(
      R"(sum by (version) (canary_requests_total{code=~"0|5xx"}) / sum by (version) (canary_requests_total))", "version");
  EXPECT_EQ(errors.size(), 2u);
  for (const auto& [version, rate] : errors) EXPECT_EQ(rate, 0.0) << version;
}

TEST_F(PrometheusScrape, TheDashboardAndTheDocumentedPromqlUseExportedFamiliesAndRun) {
  std::ifstream file(CANARY_SOURCE_DIR "/docs/grafana-dashboard.json");
  const json dashboard = json::parse(file, nullptr, false);
  ASSERT_TRUE(dashboard.is_object()) << "docs/grafana-dashboard.json does not parse";
  std::set<std::string> titles;
  std::set<int> ids;
  for (const json& panel : dashboard.at("panels")) {
    titles.insert(panel.at("title").get<std::string>());
    EXPECT_TRUE(ids.insert(panel.at("id").get<int>()).second) << "panel ids must be unique";
    EXPECT_TRUE(panel.contains("gridPos") && panel.contains("datasource") && panel.contains("targets"));
  }
  for (const char* seed_panel : {"Request rate", "Error rate", "Mean latency", "P95 latency", "P99 latency", "Traffic split"})
    EXPECT_TRUE(titles.count(seed_panel)) << seed_panel;
  bool rollback_annotation = false;
  for (const json& a : dashboard.at("annotations").at("list"))
    rollback_annotation |= a.value("expr", "").find("rolled_back") != std::string::npos;
  EXPECT_TRUE(rollback_annotation);
  std::vector<std::string> queries;
  collect_queries(dashboard, queries);
  ASSERT_GE(queries.size(), 8u);
  // The fleet PromQL of docs/operations.md: every ```promql block.
  std::ifstream ops_file(CANARY_SOURCE_DIR "/docs/operations.md");
  const std::string ops(std::istreambuf_iterator<char>(ops_file), {});
  std::size_t documented = 0;
  for (auto at = ops.find("```promql\n"); at != std::string::npos; at = ops.find("```promql\n", at + 1), ++documented) {
    const auto begin = at + 10;
    queries.push_back(ops.substr(begin, ops.find("```", begin) - begin));
  }
  EXPECT_GE(documented, 7u);

  ASSERT_TRUE(prometheus_installed());
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2"}).exit_code, 0);
  AggregatorProcess aggregator(name, {"--interval-ms", "100"});
  ASSERT_TRUE(aggregator.started()) << aggregator.output();
  ASSERT_EQ(run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--requests", "2000"}).exit_code, 0);
  std::this_thread::sleep_for(300ms);

  // The families /metrics declares; a histogram or summary also answers to its _bucket, _sum, _count.
  httplib::Client admin("127.0.0.1", aggregator.port());
  auto exposition = admin.Get("/metrics");
  ASSERT_TRUE(exposition);
  std::set<std::string> exported;
  for (const std::string& line : lines_of(exposition->body)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    std::string family, type;
    fields >> family >> type;
    exported.insert(family);
    if (type == "histogram" || type == "summary")
      for (const char* suffix : {"_bucket", "_sum", "_count"}) exported.insert(family + suffix);
  }
  for (const std::string& q : queries)
    for (const std::string& metric : metric_names(q))
      EXPECT_TRUE(exported.count(metric)) << metric << " in `" << q << "` is not exported by /metrics";

  // Each query, with the dashboard's $job and $version variables at "All", is valid PromQL and runs.
  ASSERT_NO_FATAL_FAILURE(scrape_twice(aggregator));
  for (std::string q : queries) {
    for (const std::string variable : {"$job", "$version"})
      for (auto at = q.find(variable); at != std::string::npos; at = q.find(variable)) q.replace(at, variable.size(), ".*");
    const json answer = query_raw(q);
    EXPECT_EQ(answer.value("status", ""), "success") << q << ": " << answer.dump();
  }
  // And the panels show data: the request rate has both versions.
  EXPECT_EQ(query(R"(sum by (version) (canary_requests_total{job=~".*"}))", "version").size(), 2u);
}

}  // namespace
}  // namespace canary
