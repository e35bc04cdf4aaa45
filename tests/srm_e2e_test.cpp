// SPDX-License-Identifier: Apache-2.0
// The sample-ratio test end to end: workers whose routing is wrong (10% of users recorded as the
// canary's while the share says 5%) are flagged by a live aggregator, the flag holds the ramp and
// promotion, and a person clears it; correct routing with users who send many requests is not.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "canary/bucket.hpp"
#include "canary/events.hpp"
#include "canary/segment.hpp"
#include "canary/writer.hpp"
#include "raw_http.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::AggregatorProcess;
using testing::run_tool;
using namespace std::chrono_literals;

class SampleRatio : public ::testing::Test {
 protected:
  SampleRatio() : name(testing::unique_segment_name("srm")) {
    EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
    std::ofstream(scratch.path + "/policy.yaml") << "ramp: {bake: 1h}\n";
  }
  ~SampleRatio() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }

  // A worker process: `users` users, each sending `each` requests over about `seconds`, recorded
  // as the router says, or (misroute) as the canary's whenever their bucket is below 10%.
  void work(int users, int each, double seconds, bool misroute) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (!canary::attach(name)) _exit(2);
      const auto pause = std::chrono::duration<double>(seconds / (users * each));
      for (int r = 0; r < each; ++r)
        for (int u = 0; u < users; ++u) {
          const std::string id = "user-" + std::to_string(u);
          Decision d = canary::route(id, std::string_view("/api/v2/recommend/personalized"));
          if (misroute && xxh3_bucket(d.user_hash) < 1000) d.version = Version::canary;
          canary::record(d.endpoint, Method::get, d.user_hash, d.version, 200, 1000);
          std::this_thread::sleep_for(pause);
        }
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  json srm(const AggregatorProcess& agg) {
    const json status = json::parse(testing::get_body(agg.port(), "/api/v2/admin/canary/status"), nullptr, false);
    return status.is_discarded() ? json() : status["srm"];
  }

  std::string name;
  testing::ScratchDir scratch{"srm"};
};

TEST_F(SampleRatio, AWrongSplitIsFlaggedHoldsTheRampAndIsClearedByAPerson) {
  AggregatorProcess agg(name, {"--policy", scratch.path + "/policy.yaml", "--interval-ms", "250"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"start", "--share", "5"}).exit_code, 0);
  std::this_thread::sleep_for(700ms);  // two intervals of the new routing before any record
  work(20000, 1, 3.0, /*misroute=*/true);
  ASSERT_TRUE(testing::wait_until([&] { return srm(agg).value("detected", false); }, 10s)) << srm(agg).dump();
  const json s = srm(agg);
  EXPECT_NEAR(s["observed"].get<double>(), 0.10, 0.02) << s.dump();
  EXPECT_NEAR(s["expected"].get<double>(), 0.05, 1e-9) << s.dump();
  EXPECT_GT(s["requests"].get<std::uint64_t>(), 200u);  // about a thousand users: 10% against 5% is plain
  EXPECT_NE(testing::get_body(agg.port(), "/metrics").find("canary_srm_detected{version=\"canary\"} 1"), std::string::npos);

  EXPECT_EQ(testing::status_value(ctl({"status"}).out, "srm_detected"), "true");
  const auto refused = ctl({"promote"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("sample-ratio mismatch"), std::string::npos) << refused.err;
  auto segment = Segment::attach(name, Access::read_only);
  ASSERT_TRUE(segment);
  bool event = false;
  for (const Event& e : read_events(*segment)) event = event || e.kind == EventKind::srm_detected;
  EXPECT_TRUE(event);

  EXPECT_EQ(ctl({"srm-clear", "--reason", "router fixed"}).exit_code, 0);
  EXPECT_TRUE(testing::wait_until([&] { return !srm(agg).value("detected", true); }, 5s)) << srm(agg).dump();
  const auto again = ctl({"srm-clear"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("no sample-ratio mismatch"), std::string::npos) << again.err;
}

TEST_F(SampleRatio, CorrectRoutingOfUsersWhoSendManyRequestsIsNotFlagged) {
  AggregatorProcess agg(name, {"--policy", scratch.path + "/policy.yaml", "--interval-ms", "250"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"start", "--share", "5"}).exit_code, 0);
  std::this_thread::sleep_for(700ms);
  // 2,000 users, 20 requests each: a request test would see 40,000 draws of 2,000 independent ones.
  work(2000, 20, 3.0, /*misroute=*/false);
  std::this_thread::sleep_for(1s);
  const json s = srm(agg);
  EXPECT_FALSE(s.value("detected", true)) << s.dump();
  EXPECT_GT(s["requests"].get<std::uint64_t>(), 500u) << s.dump();
  EXPECT_LE(s["requests"].get<std::uint64_t>(), 2000u) << s.dump();  // users, not requests
}

}  // namespace
}  // namespace canary
