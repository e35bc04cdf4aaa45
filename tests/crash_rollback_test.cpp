// SPDX-License-Identifier: Apache-2.0
// A canary that crashes its worker is a failing canary: the demo server's canary handler abort()s
// on a share of its requests, the master starts a new worker each time, and every request that
// died with its worker is counted as unavailable, exactly, until the availability trigger rolls
// the canary back.
#include <httplib.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "canary/events.hpp"
#include "canary/segment.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::run_tool;
using namespace std::chrono_literals;

class CrashingCanary : public ::testing::Test {
 protected:
  CrashingCanary() : name(testing::unique_segment_name("crash")) {
    // The workers abort() on purpose: no core files.
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
    EXPECT_EQ(ctl({"set-percentage", "50"}).exit_code, 0);
  }
  ~CrashingCanary() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  json dump() { return json::parse(run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"}).out); }
  std::uint64_t total(const json& d, const char* version, const char* key) {
    return d["totals"].contains(version) ? d["totals"][version][key].get<std::uint64_t>() : 0;
  }

  std::string name;
  testing::ScratchDir scratch{"crash"};
};

TEST_F(CrashingCanary, EveryRequestThatDiedWithItsWorkerIsUnavailableAndTheCanaryIsRolledBack) {
  std::ofstream(scratch.path + "/policy.yaml") << "rollback: {when_gate_cannot_pass: false}\nramp: {bake: 1h}\n";
  testing::AggregatorProcess aggregator(name, {"--policy", scratch.path + "/policy.yaml", "--interval-ms", "250"});
  ASSERT_TRUE(aggregator.started()) << aggregator.output();
  testing::ServerProcess demo({CANARY_DEMO_SERVER_PATH, "--segment", name, "--port", "0", "--workers", "2",
                               "--threads", "2", "--canary-crash-rate", "0.05"});
  ASSERT_TRUE(demo.started()) << demo.output();

  // One request at a time, so a crash takes exactly one request with it.
  httplib::Client client("127.0.0.1", demo.port());
  client.set_read_timeout(10, 0);
  std::uint64_t answered_canary = 0, answered_legacy = 0, died = 0;
  const auto until = std::chrono::steady_clock::now() + 90s;
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    const std::string body = "{\"user_id\": \"user-" + std::to_string(i) + "\"}";
    const auto res = client.Post("/api/v2/conversations/abc/turn", body, "application/json");
    if (!res) {
      ++died;
    } else {
      ASSERT_EQ(res->status, 200) << res->body;
      (res->get_header_value("X-Canary-Version") == "canary" ? answered_canary : answered_legacy) += 1;
    }
    if (i % 50 == 49 && testing::status_value(ctl({"status"}).out, "state") == "rolled_back") break;
  }
  ASSERT_EQ(testing::status_value(ctl({"status"}).out, "state"), "rolled_back") << aggregator.output();
  ASSERT_GT(died, 0u);

  // The aggregator counts a dead worker's requests at its next interval.
  json d;
  for (int tries = 0; tries < 100; ++tries) {
    d = dump();
    if (total(d, "canary", "unavailable") >= died) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(total(d, "canary", "unavailable"), died) << d.dump();
  EXPECT_EQ(total(d, "canary", "requests"), answered_canary + died);
  EXPECT_EQ(total(d, "legacy", "unavailable"), 0u);
  EXPECT_EQ(total(d, "legacy", "requests"), answered_legacy);
  EXPECT_EQ(d["crashed_requests"]["counted_unavailable"], died);

  auto segment = Segment::attach(name, Access::read_only);
  ASSERT_TRUE(segment);
  std::string rollback_details;
  for (const Event& e : read_events(*segment))
    if (e.kind == EventKind::rolled_back) rollback_details = e.details_json;
  ASSERT_FALSE(rollback_details.empty());
  EXPECT_EQ(json::parse(rollback_details)["check"], "canary_availability") << rollback_details;
  std::printf("%llu canary requests answered, %llu died with their worker (%.1f%%): rolled back by availability\n",
              static_cast<unsigned long long>(answered_canary), static_cast<unsigned long long>(died),
              100.0 * static_cast<double>(died) / static_cast<double>(answered_canary + died));
}

}  // namespace
}  // namespace canary
