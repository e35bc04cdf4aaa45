// SPDX-License-Identifier: Apache-2.0
// No latency sample is lost to an aggregator crash: under steady load the aggregator is killed with
// SIGKILL 20 times and restarted at once; at the end the `all` window's digests hold every record
// the workers recorded, minus at most the records drained in the intervals the kills interrupted
// (one interval each). The checkpoint is written every 10 s, far less often than the kills come:
// without the per-interval journal nearly every sample would be gone.
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

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

constexpr int kWorkers = 2;
constexpr int kRatePerWorker = 1500;  // records per second
constexpr int kIntervalMs = 200;
constexpr int kKills = 20;

json get_json(int port, const std::string& path) { return json::parse(testing::get_body(port, path), nullptr, false); }

TEST(AggregatorCrash, TwentyKillsUnderLoadLoseAtMostTheIntervalEachInterrupted) {
  const std::string name = testing::unique_segment_name("crash");
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2"}).exit_code, 0);
  testing::ScratchDir dir("crash");
  const std::vector<std::string> args = {"--state-dir", dir.path, "--interval-ms", std::to_string(kIntervalMs),
                                         "--checkpoint-s", "10"};
  auto aggregator = std::make_unique<testing::AggregatorProcess>(name, args);
  ASSERT_TRUE(aggregator->started()) << aggregator->output();

  // About 24 s of load in the background; the loadgen prints its truth when done.
  const int seconds = 24;
  testing::ToolResult load;
  std::thread loadgen([&] {
    load = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--workers", std::to_string(kWorkers), "--rate",
                                          std::to_string(kRatePerWorker), "--requests",
                                          std::to_string(seconds * kRatePerWorker), "--seed", "5"});
  });
  std::mt19937_64 rng(17);
  for (int kill = 0; kill < kKills; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 600));
    aggregator->kill_hard();
    aggregator = std::make_unique<testing::AggregatorProcess>(name, args);
    ASSERT_TRUE(aggregator->started()) << "restart " << kill << ": " << aggregator->output();
  }
  loadgen.join();
  ASSERT_EQ(load.exit_code, 0) << load.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kIntervalMs));

  const json truth = json::parse(load.out);
  const json metrics = get_json(aggregator->port(), "/api/v2/admin/canary/metrics?window=all");
  const json status = get_json(aggregator->port(), "/api/v2/admin/canary/status");
  std::uint64_t recorded = 0, in_digests = 0;
  for (const char* v : {"legacy", "canary"}) {
    if (truth["totals"].contains(v)) recorded += truth["totals"][v]["requests"].get<std::uint64_t>();
    in_digests += metrics[v]["latency_samples"].get<std::uint64_t>();
  }
  ASSERT_EQ(status["aggregator"]["ring_dropped_records"], 0) << "dropped ring records would be lost anyway";
  // One interval's worth per kill: the load's rate times the interval, with room for the jitter
  // of a busy machine (a late interval drains more).
  const std::uint64_t per_interval = kWorkers * kRatePerWorker * kIntervalMs / 1000;
  const std::uint64_t allowed = kKills * per_interval * 2;
  const std::uint64_t lost = recorded - std::min(recorded, in_digests);
  std::printf("%d kills: %llu records, %llu in the digests, %llu lost (at most %llu allowed; %.3f%% kept)\n", kKills,
              static_cast<unsigned long long>(recorded), static_cast<unsigned long long>(in_digests),
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(allowed),
              100.0 * static_cast<double>(in_digests) / static_cast<double>(recorded));
  EXPECT_LE(in_digests, recorded) << "a sample counted twice";
  EXPECT_LE(lost, allowed);
  EXPECT_EQ(aggregator->stop(), 0);
  (void)Segment::destroy(name);
}

}  // namespace
}  // namespace canary
