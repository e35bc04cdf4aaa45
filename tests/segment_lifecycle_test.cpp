// SPDX-License-Identifier: Apache-2.0
// A running aggregator never works on a dead segment: tools refuse to pull the segment from under
// it, and when someone does anyway (--even-if-live, rm /dev/shm/...), it notices within an interval
// and exits non-zero so that its supervisor starts it again on the segment that is there now.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "canary/segment.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using testing::AggregatorProcess;
using testing::run_tool;
using namespace std::chrono_literals;

class SegmentLifecycle : public ::testing::Test {
 protected:
  SegmentLifecycle() : name(testing::unique_segment_name("life")) {
    EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  }
  ~SegmentLifecycle() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  std::unique_ptr<AggregatorProcess> start() {
    auto p = std::make_unique<AggregatorProcess>(name, std::vector<std::string>{"--interval-ms", "100"});
    EXPECT_TRUE(p->started()) << p->output();
    return p;
  }

  std::string name;
};

TEST_F(SegmentLifecycle, InitForceAndDestroyAreRefusedWhileAnAggregatorHoldsTheSegment) {
  auto agg = start();
  const std::string pid = "pid " + std::to_string(agg->pid());
  for (const std::vector<std::string>& args : {std::vector<std::string>{"init", "--force", "--cpus", "2"},
                                              std::vector<std::string>{"destroy"}}) {
    const auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_EQ(testing::count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("live aggregator (" + pid + ")"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--even-if-live"), std::string::npos) << r.err;
  }
  // Nothing changed: the aggregator still serves the segment it started on.
  EXPECT_EQ(testing::status_value(ctl({"status"}).out, "aggregator").rfind("alive", 0), 0u);
  EXPECT_EQ(agg->stop(), 0);
  EXPECT_EQ(ctl({"destroy"}).exit_code, 0) << "allowed once the aggregator is gone";
}

TEST_F(SegmentLifecycle, AFailedCreateStartRemovesWhatItCreatedAndNothingElse) {
  auto holder = start();  // holds a port the next start asks for
  const std::string fresh = testing::unique_segment_name("life-new");
  testing::ServerProcess failed({CANARY_AGGREGATOR_PATH, "--segment", fresh, "--create", "--listen",
                                 "127.0.0.1:" + std::to_string(holder->port())});
  EXPECT_FALSE(failed.started());
  EXPECT_NE(failed.wait_exit(), 0);
  EXPECT_NE(failed.output().find("in use"), std::string::npos) << failed.output();
  EXPECT_EQ(Segment::attach(fresh, Access::read_only).status().code(), Errc::missing) << "created, then removed";
  // A segment that was there before the failed start stays.
  testing::ServerProcess second({CANARY_AGGREGATOR_PATH, "--segment", name, "--create", "--listen",
                                 "127.0.0.1:" + std::to_string(holder->port())});
  EXPECT_NE(second.wait_exit(), 0);
  EXPECT_TRUE(Segment::attach(name, Access::read_only));
}

TEST_F(SegmentLifecycle, InitIfMissingKeepsAnExistingSegmentAndCreatesAMissingOne) {
  ASSERT_EQ(ctl({"set-percentage", "30"}).exit_code, 0);
  auto r = ctl({"init", "--if-missing", "--percentage", "5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("exists: kept"), std::string::npos) << r.out;
  EXPECT_EQ(testing::status_value(ctl({"status"}).out, "canary_percentage"), "30");
  ASSERT_EQ(ctl({"destroy"}).exit_code, 0);
  EXPECT_EQ(ctl({"init", "--if-missing", "--cpus", "2"}).exit_code, 0);
  EXPECT_EQ(testing::status_value(ctl({"status"}).out, "canary_percentage"), "5");
  EXPECT_EQ(ctl({"init", "--if-missing", "--force"}).exit_code, 1);
}

TEST_F(SegmentLifecycle, AnAggregatorWhoseSegmentIsReplacedExitsWithinAnInterval) {
  auto agg = start();
  ASSERT_EQ(ctl({"init", "--force", "--even-if-live", "--cpus", "2"}).exit_code, 0);
  // Five intervals (of 100 ms) on top of the one it may take to notice: SPEC 9's liveness margin.
  EXPECT_TRUE(agg->wait_for_output("was replaced", 3s)) << agg->output();
  EXPECT_EQ(agg->wait_exit(), 2) << agg->output();
}

TEST_F(SegmentLifecycle, AnAggregatorWhoseSegmentIsRemovedExitsWithinAnInterval) {
  auto agg = start();
  ASSERT_EQ(ctl({"destroy", "--even-if-live"}).exit_code, 0);
  EXPECT_TRUE(agg->wait_for_output("was removed", 3s)) << agg->output();
  EXPECT_EQ(agg->wait_exit(), 2) << agg->output();
}

}  // namespace
}  // namespace canary
