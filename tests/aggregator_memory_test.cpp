// SPDX-License-Identifier: Apache-2.0
// --memory-limit as an operator sees it: past the limit the long windows coarsen, one step an
// interval, each step a log line; /status and /metrics show the parts, the limit and the buckets;
// no count is lost on the way; and a bad limit is refused in one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "canary/segment.hpp"
#include "raw_http.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::run_tool;
using testing::ServerProcess;
using namespace std::chrono_literals;

class AggregatorMemory : public ::testing::Test {
 protected:
  AggregatorMemory() : name(testing::unique_segment_name("mem")) {
    EXPECT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2"}).exit_code, 0);
    EXPECT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "set-percentage", "50"}).exit_code, 0);
  }
  ~AggregatorMemory() override { (void)Segment::destroy(name); }
  std::unique_ptr<ServerProcess> start(std::vector<std::string> extra) {
    std::vector<std::string> args = {CANARY_AGGREGATOR_PATH, "--segment", name, "--listen", "127.0.0.1:0", "--interval-ms", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(args);
  }
  json status(int port) { return json::parse(testing::get_body(port, "/api/v2/admin/canary/status"), nullptr, false); }
  std::string name;
};

TEST_F(AggregatorMemory, PastTheLimitTheLongWindowsCoarsenAndEveryCountStays) {
  // 1 MiB: less than the decision engine's sample-ratio filter alone (8 MiB), so every step is taken.
  auto agg = start({"--memory-limit", "1M"});
  ASSERT_TRUE(agg->started()) << agg->output();
  const auto loadgen = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--workers", "2", "--requests", "20000", "--rate", "20000"});
  ASSERT_EQ(loadgen.exit_code, 0) << loadgen.out;
  const json truth = json::parse(loadgen.out);
  json memory;
  ASSERT_TRUE(testing::wait_until([&] {
    memory = status(agg->port())["aggregator"]["memory"];
    return memory.is_object() && memory["cannot_coarsen_further"] == true;
  }, 20s)) << memory.dump(2);
  EXPECT_EQ(memory["limit_bytes"], 1u << 20);
  EXPECT_EQ(memory["over_limit"], true);
  EXPECT_GT(memory["estimate_bytes"].get<std::uint64_t>(), memory["parts"]["decisions"].get<std::uint64_t>() - 1);
  EXPECT_GT(memory["parts"]["windows"].get<std::uint64_t>(), 0u);
  // Every step taken: 1h in 8-minute buckets, 6h in 40-minute, 24h in 2-hour; 5m untouched.
  EXPECT_EQ(memory["window_bucket_s"], json({{"5m", 10}, {"1h", 480}, {"6h", 2400}, {"24h", 7200}})) << memory.dump(2);
  // Nine steps, each a log line; then one line that it can go no further.
  const std::string out = agg->output();
  std::size_t steps = 0;
  for (std::size_t at = 0; (at = out.find("memory limit reached: a long window", at)) != std::string::npos; ++at) ++steps;
  EXPECT_EQ(steps, 9u) << out;
  EXPECT_NE(out.find("cannot coarsen further"), std::string::npos) << out;
  // The counts are the slabs': exact, whatever the windows' buckets.
  json metrics;
  EXPECT_TRUE(testing::wait_until([&] {
    metrics = json::parse(testing::get_body(agg->port(), "/api/v2/admin/canary/metrics?window=24h"));
    return metrics["legacy"]["request_count"] == truth["totals"]["legacy"]["requests"] &&
           metrics["canary"]["request_count"] == truth["totals"]["canary"]["requests"];
  }, 10s)) << metrics.dump(2) << truth.dump(2);
  const std::string text = testing::get_body(agg->port(), "/metrics");
  for (const char* series : {"canary_aggregator_memory_bytes{part=\"windows\"}", "canary_aggregator_memory_bytes{part=\"http\"}",
                             "canary_aggregator_memory_limit_bytes 1048576", "canary_aggregator_memory_over_limit 1",
                             "canary_window_bucket_seconds{window=\"24h\"} 7200"})
    EXPECT_NE(text.find(series), std::string::npos) << series;
}

TEST_F(AggregatorMemory, WithoutALimitNothingCoarsensAndThePartsAreShown) {
  auto agg = start({});
  ASSERT_TRUE(agg->started()) << agg->output();
  json memory;
  ASSERT_TRUE(testing::wait_until([&] {
    memory = status(agg->port())["aggregator"]["memory"];
    return memory.is_object();
  }, 10s));
  EXPECT_EQ(memory["limit_bytes"], 0);
  EXPECT_EQ(memory["over_limit"], false);
  EXPECT_EQ(memory["window_bucket_s"], json({{"5m", 10}, {"1h", 60}, {"6h", 300}, {"24h", 900}}));
}

TEST_F(AggregatorMemory, ABadLimitIsRefusedInOneLine) {
  for (const char* bad : {"lots", "12X", "-5", "0", "1000", "99999999999G"}) {
    ServerProcess p({CANARY_AGGREGATOR_PATH, "--segment", name, "--listen", "127.0.0.1:0", "--memory-limit", bad});
    EXPECT_FALSE(p.started()) << bad;
    EXPECT_EQ(p.wait_exit(), 1) << bad;
    EXPECT_EQ(testing::count_lines(p.output()), 1) << p.output();
    EXPECT_NE(p.output().find("--memory-limit"), std::string::npos) << p.output();
  }
}

}  // namespace
}  // namespace canary
