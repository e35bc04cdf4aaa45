// SPDX-License-Identifier: Apache-2.0
// Every P95 and P99 the aggregator reports, wherever it reports it, within 0.25% of the exact
// lower nearest-rank value of the records: replayed shapes where quantiles are hard (point masses,
// a narrow band of slow requests past a gap, a band below a millisecond where two decimals of a
// millisecond are already more than 0.25%), through canary-loadgen --replay and a live aggregator.
// Checked: the seed's metrics JSON (its unrounded *_us keys, and its strings to their two
// decimals) in every window, the per-endpoint JSON, /metrics' digest quantiles, the published
// summary (canary-shm-dump --json), and the decision engine's P95 in /status. Also: a latency
// beyond an hour is recorded as one, and counted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "canary/latency_sketch.hpp"
#include "canary/segment.hpp"
#include "raw_http.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::run_tool;
using namespace std::chrono_literals;

constexpr double kBound = LatencySketch::kRelativeBound;
const char* const kEndpoint = "/api/v2/conversations/start";

// Microseconds, exact: the value of rank ceil(q n).
std::uint64_t exact(std::vector<std::uint64_t> v, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank - 1), v.end());
  return v[rank - 1];
}

struct Shape {
  const char* version;
  std::function<double(std::mt19937_64&)> draw_us;
};

TEST(QuantileSurfaces, EveryReportedP95AndP99IsWithinAQuarterPercentOnHardShapes) {
  const std::string name = testing::unique_segment_name("qsurf");
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2", "--percentage", "50"}).exit_code, 0);
  testing::ScratchDir dir("qsurf");
  std::uniform_real_distribution<double> u(0, 1);
  const std::vector<Shape> shapes = {
      // Point masses: 70% at exactly 1 ms, 26% at 2 ms, 4% at 250 ms (P95 and P99 sit on masses).
      {"legacy", [&](std::mt19937_64& r) { const double x = u(r); return x < 0.70 ? 1000.0 : x < 0.96 ? 2000.0 : 250'000.0; }},
      // A body below a millisecond (P95 there) and a narrow band of slow requests past a wide gap
      // (P99 there): 3% in 1.500-1.503 s, 1% at exactly 1.52 s.
      {"canary", [&](std::mt19937_64& r) {
         const double x = u(r);
         if (x < 0.03) return 1'500'000.0 + u(r) * 3000.0;
         if (x < 0.04) return 1'520'000.0;
         return 200.0 * std::exp(0.6 * std::normal_distribution<double>(0, 1)(r));
       }},
  };
  std::mt19937_64 rng(2026);
  std::map<std::string, std::vector<std::uint64_t>> values;
  std::vector<std::string> rows;
  for (int i = 0; i < 40'000; ++i) {
    const Shape& s = shapes[i % 2];
    const auto us = static_cast<std::uint64_t>(std::llround(s.draw_us(rng)));
    values[s.version].push_back(us);
    char ms[32];
    std::snprintf(ms, sizeof ms, "%llu.%03llu", static_cast<unsigned long long>(us / 1000), static_cast<unsigned long long>(us % 1000));
    rows.push_back(std::string(kEndpoint) + ",POST,user-" + std::to_string(i % 4000) + "," + s.version + ",200," + ms);
  }
  testing::AggregatorProcess agg(name, {"--interval-ms", "200"});
  ASSERT_TRUE(agg.started()) << agg.output();
  // In files of 5,000 rows: a replay writes as fast as it can, and a ring holds 16,384.
  for (std::size_t from = 0; from < rows.size(); from += 5000) {
    const std::string file = dir.path + "/rows-" + std::to_string(from) + ".csv";
    std::ofstream out(file);
    for (std::size_t i = from; i < std::min(rows.size(), from + 5000); ++i) out << rows[i] << '\n';
    out.close();
    const auto r = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--replay", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(json::parse(r.out)["ring_full_drops"], 0);
    std::this_thread::sleep_for(50ms);
  }
  const auto get = [&](const std::string& path) { return json::parse(testing::get_body(agg.port(), path), nullptr, false); };
  ASSERT_TRUE(testing::wait_until([&] {
    const json m = get("/api/v2/admin/canary/metrics?window=5m");
    return m["legacy"]["latency_samples"] == 20'000 && m["canary"]["latency_samples"] == 20'000;
  }, 20s));

  double worst = 0;
  const auto check = [&](double reported_us, std::uint64_t truth_us, const std::string& where) {
    const double e = std::abs(reported_us - static_cast<double>(truth_us)) / static_cast<double>(truth_us);
    worst = std::max(worst, e);
    EXPECT_LE(e, kBound) << where << ": " << reported_us << " us reported, " << truth_us << " exact";
  };
  for (const auto& [version, v] : values) {
    const std::uint64_t p95 = exact(v, 0.95), p99 = exact(v, 0.99);
    std::printf("%s: exact P95 %llu us, P99 %llu us\n", version.c_str(), static_cast<unsigned long long>(p95),
                static_cast<unsigned long long>(p99));
    for (const char* w : {"5m", "1h", "6h", "24h", "all"}) {
      const json m = get(std::string("/api/v2/admin/canary/metrics?window=") + w)[version];
      check(m["p95_response_time_us"].get<double>(), p95, std::string("seed JSON ") + w + " P95 " + version);
      check(m["p99_response_time_us"].get<double>(), p99, std::string("seed JSON ") + w + " P99 " + version);
      // The seed's strings: the same value to two decimals of a millisecond.
      EXPECT_NEAR(std::stod(m["p95_response_time_ms"].get<std::string>()), m["p95_response_time_us"].get<double>() / 1000, 0.005);
      const json e = get(std::string("/api/v2/admin/canary/endpoints?window=") + w)[kEndpoint][version];
      check(e["p95_response_time_us"].get<double>(), p95, std::string("endpoints JSON ") + w + " " + version);
      check(e["p99_response_time_us"].get<double>(), p99, std::string("endpoints JSON ") + w + " " + version);
    }
    // /metrics: the 5-minute digest quantiles, in seconds.
    std::istringstream text(testing::get_body(agg.port(), "/metrics"));
    int seen = 0;
    for (std::string line; std::getline(text, line);) {
      const std::string series = "canary_request_duration_digest_seconds{version=\"" + version + "\",endpoint=\"" + kEndpoint + "\",quantile=\"";
      if (line.rfind(series, 0) != 0) continue;
      const std::string q = line.substr(series.size(), line.find('"', series.size()) - series.size());
      const double seconds = std::stod(line.substr(line.rfind(' ') + 1));
      if (q == "0.95") check(seconds * 1e6, p95, "/metrics P95 " + version), ++seen;
      if (q == "0.99") check(seconds * 1e6, p99, "/metrics P99 " + version), ++seen;
    }
    EXPECT_EQ(seen, 2) << version;
  }
  // The summary in the segment, as any tool reads it.
  const auto dump = run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const json summary = json::parse(dump.out)["summary"]["windows"]["all"];
  for (const auto& [version, v] : values) {
    check(summary[version]["p95_ms"].get<double>() * 1000, exact(v, 0.95), "summary P95 " + version);
    check(summary[version]["p99_ms"].get<double>() * 1000, exact(v, 0.99), "summary P99 " + version);
  }
  // The decision engine's canary P95 over the step, in /status.
  const json status = get("/api/v2/admin/canary/status");
  bool judged = false;
  for (const json& t : status["decision"]["triggers"])
    if (t["check"] == "canary_p95_ms" && t["window"] == "step" && !t.contains("endpoint")) {
      check(t["value"].get<double>() * 1000, exact(values["canary"], 0.95), "status canary_p95_ms");
      judged = true;
    }
  EXPECT_TRUE(judged) << status["decision"].dump(2);
  std::printf("worst relative error over every surface: %.4f%%\n", 100 * worst);

  // Two hours is recorded as one, and counted; the mean stays what an hour makes it.
  const std::string slow = dir.path + "/slow.csv";
  std::ofstream(slow) << kEndpoint << ",GET,user-1,legacy,200,7200000\n";
  ASSERT_EQ(run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--replay", slow}).exit_code, 0);
  EXPECT_TRUE(testing::wait_until([&] { return get("/api/v2/admin/canary/status")["aggregator"]["latency_clamped"] == 1; }, 10s));
  EXPECT_NE(testing::get_body(agg.port(), "/metrics").find("canary_latency_clamped_total 1\n"), std::string::npos);
  (void)Segment::destroy(name);
}

}  // namespace
}  // namespace canary
