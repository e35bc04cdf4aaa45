// SPDX-License-Identifier: Apache-2.0
// No latency sample or experiment record is lost to an aggregator crash without a number: under
// steady load the aggregator is killed with SIGKILL and restarted at once, again and again; at the
// end the `all` window's digests hold every record the workers recorded but those the kills
// interrupted (one interval each at most), and those are counted, exactly: kept + lost = recorded.
// The same for an experiment's exposures. The checkpoint is written every 10 s, far less often
// than the kills come: without the per-interval journal nearly everything would be gone.
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
  EXPECT_EQ(status["aggregator"]["lost_records"].get<std::uint64_t>(), lost) << "every lost sample is counted";
  EXPECT_EQ(aggregator->stop(), 0);
  (void)Segment::destroy(name);
}

// The run: an experiment exposing every request, ten crash restarts 1-2.5 s apart. Every
// exposure is counted, or dropped by a full ring, or lost with a killed aggregator and counted so.
TEST(AggregatorCrash, TenKillsWithAnExperimentRunningLoseNoExposureWithoutANumber) {
  const std::string name = testing::unique_segment_name("crash-x");
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "2"}).exit_code, 0);
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "experiment", "create", "reco", "--arms", "control:50,treatment:50"}).exit_code, 0);
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "experiment", "start", "reco"}).exit_code, 0);
  testing::ScratchDir dir("crash-x");
  const std::vector<std::string> args = {"--state-dir", dir.path, "--interval-ms", std::to_string(kIntervalMs),
                                         "--checkpoint-s", "10"};
  auto aggregator = std::make_unique<testing::AggregatorProcess>(name, args);
  ASSERT_TRUE(aggregator->started()) << aggregator->output();
  const int seconds = 20;
  testing::ToolResult load;
  std::thread loadgen([&] {
    load = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--workers", std::to_string(kWorkers), "--rate",
                                          std::to_string(kRatePerWorker), "--requests", std::to_string(seconds * kRatePerWorker),
                                          "--users", "20000", "--seed", "9", "--experiment", "reco"});
  });
  std::mt19937_64 rng(23);
  for (int kill = 0; kill < 10; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 + rng() % 1500));
    aggregator->kill_hard();
    aggregator = std::make_unique<testing::AggregatorProcess>(name, args);
    ASSERT_TRUE(aggregator->started()) << "restart " << kill << ": " << aggregator->output();
  }
  loadgen.join();
  ASSERT_EQ(load.exit_code, 0) << load.err;
  const json truth = json::parse(load.out);
  const std::uint64_t sent = truth["experiment"]["exposures"].get<std::uint64_t>();
  std::uint64_t requests = 0;
  for (const char* v : {"legacy", "canary"})
    if (truth["totals"].contains(v)) requests += truth["totals"][v]["requests"].get<std::uint64_t>();
  json r, metrics, status;
  std::uint64_t counted = 0, samples = 0;
  // Kept and lost add up once the last interval has folded what the last drain took.
  const bool settled = testing::wait_until([&] {
    r = get_json(aggregator->port(), "/api/v2/admin/canary/experiments/reco");
    metrics = get_json(aggregator->port(), "/api/v2/admin/canary/metrics?window=all");
    status = get_json(aggregator->port(), "/api/v2/admin/canary/status");
    counted = r["arms"][0]["exposures"].get<std::uint64_t>() + r["arms"][1]["exposures"].get<std::uint64_t>();
    samples = metrics["legacy"]["latency_samples"].get<std::uint64_t>() + metrics["canary"]["latency_samples"].get<std::uint64_t>();
    const std::uint64_t lost_samples = status["aggregator"]["lost_records"].get<std::uint64_t>() - r["records_lost"].get<std::uint64_t>();
    return counted + r["records_dropped"].get<std::uint64_t>() + r["records_lost"].get<std::uint64_t>() == sent &&
           samples + lost_samples == requests;
  }, 10s);
  std::printf("10 kills: %llu exposures sent, %llu counted, %llu dropped, %llu lost with a killed aggregator; %llu requests, "
              "%llu latency samples kept, %llu lost\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(counted),
              static_cast<unsigned long long>(r["records_dropped"].get<std::uint64_t>()),
              static_cast<unsigned long long>(r["records_lost"].get<std::uint64_t>()), static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(samples),
              static_cast<unsigned long long>(status["aggregator"]["lost_records"].get<std::uint64_t>() -
                                              r["records_lost"].get<std::uint64_t>()));
  EXPECT_TRUE(settled) << r.dump(2) << status["aggregator"].dump(2);
  // At most one interval of exposures per kill: nearly all are kept.
  EXPECT_LE(r["records_lost"].get<std::uint64_t>(), 10u * kWorkers * kRatePerWorker * kIntervalMs / 1000 * 2);
  EXPECT_GT(counted, sent * 9 / 10);
  EXPECT_EQ(aggregator->stop(), 0);
  (void)Segment::destroy(name);
}

}  // namespace
}  // namespace canary
