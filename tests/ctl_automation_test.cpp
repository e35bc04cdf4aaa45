// SPDX-License-Identifier: Apache-2.0
// canary-ctl for pipelines: `status --json` and `wait --for`, run as processes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "canary/config.hpp"
#include "canary/segment.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using json = nlohmann::json;
using testing::count_lines;
using testing::run_tool;
using testing::unique_segment_name;

class CtlAutomationTest : public ::testing::Test {
 protected:
  CtlAutomationTest() : name(unique_segment_name("ctl-auto")) {
    EXPECT_EQ(ctl({"init"}).exit_code, 0);
  }
  ~CtlAutomationTest() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }

  std::string name;
};

TEST_F(CtlAutomationTest, StatusJsonSaysWhatStatusSaysAndHasEveryEvent) {
  ASSERT_EQ(ctl({"set-percentage", "12.5"}).exit_code, 0);
  ASSERT_EQ(ctl({"version", "add", "canary2", "--share", "1"}).exit_code, 0);
  ASSERT_EQ(ctl({"pin", "--user", "alice", "--version", "canary2"}).exit_code, 0);
  const auto r = ctl({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 1);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["segment"], name);
  EXPECT_EQ(doc["canary_percentage"], 12.5);
  EXPECT_EQ(doc["share_bp"], 1250);
  EXPECT_EQ(doc["state"], "running");
  EXPECT_EQ(doc["enabled"], true);
  EXPECT_EQ(doc["fleet_managed"], false);
  ASSERT_EQ(doc["versions"].size(), 3u);
  EXPECT_EQ(doc["versions"][0]["role"], "baseline");
  EXPECT_EQ(doc["versions"][0]["share_percent"], 86.5);
  EXPECT_EQ(doc["versions"][2]["name"], "canary2");
  EXPECT_EQ(doc["versions"][2]["share_percent"], 1.0);
  ASSERT_EQ(doc["pins"].size(), 1u);
  EXPECT_EQ(doc["pins"][0]["user"], "alice");
  EXPECT_EQ(doc["pins"][0]["version"], "canary2");
  EXPECT_EQ(doc["endpoints"].size(), 8u);  // `other` and the seed's seven
  EXPECT_EQ(doc["aggregator"]["state"], "none");
  // The text form shows the last five events; the JSON has the whole log, the newest last.
  int share_changes = 0;
  for (const json& e : doc["events"])
    share_changes += e["kind"] == "share_changed" && e["version"] == "canary" && e["share_after"] == 12.5;
  EXPECT_EQ(share_changes, 1) << doc["events"].dump();
  EXPECT_EQ(doc["events"].back()["kind"], "started");  // canary2's, added last
  EXPECT_EQ(doc["events"].back()["version"], "canary2");
  // The generation is the text status's.
  const auto text = ctl({"status"}).out;
  EXPECT_NE(text.find("generation: " + std::to_string(doc["generation"].get<std::uint64_t>()) + "\n"), std::string::npos);
}

TEST_F(CtlAutomationTest, WaitReturnsAtOnceWhenTheStateIsThere) {
  const auto r = ctl({"wait", "--for", "paused,running"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "running\n");
}

TEST_F(CtlAutomationTest, WaitSeesAStateReachedLater) {
  std::thread promoter([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(ctl({"promote", "--force"}).exit_code, 0);
  });
  const auto start = std::chrono::steady_clock::now();
  const auto r = ctl({"wait", "--for", "promoted", "--timeout", "20s"});
  promoter.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "promoted\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
}

TEST_F(CtlAutomationTest, WaitFailsWithOneWhenTheRolloutStopsElsewhere) {
  ASSERT_EQ(ctl({"rollback"}).exit_code, 0);
  const auto r = ctl({"wait", "--for", "promoted", "--timeout", "20s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "rolled_back\n");
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST_F(CtlAutomationTest, WaitTimesOutWith124) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = ctl({"wait", "--for", "promoted", "--timeout", "300ms"});
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(r.err.find("timed out after 300ms"), std::string::npos) << r.err;
}

TEST_F(CtlAutomationTest, WaitCanWaitForAnApproval) {
  auto segment = Segment::attach(name, Access::read_write);
  ASSERT_TRUE(segment);
  // What the aggregator does when the policy's next step is 100% and wants an approval.
  ASSERT_TRUE(update_config(*segment, "test", [](ConfigData& c) {
                c.versions[kFirstCandidate].awaiting_approval = 1;
                return Status::Ok();
              }).ok());
  const auto r = ctl({"wait", "--for", "awaiting_approval", "--timeout", "5s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "awaiting_approval\n");
}

TEST_F(CtlAutomationTest, WaitRefusesBadInputWithTwoAndOneLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"wait", "--for", "shipped"},
           {"wait", "--for", "promoted,"},
           {"wait", "--for", "promoted", "--timeout", "ten"},
           {"wait", "--for", "promoted", "--version", "nope"},
       }) {
    const auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 2) << args[2];
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
  const auto missing = run_tool(CANARY_CTL_PATH, {"--segment", name + "-missing", "wait", "--for", "promoted"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace canary

namespace canary {
namespace {

TEST(CtlInitSize, DryRunPrintsTheSizeInitCreatesAndCreatesNothing) {
  const std::string name = testing::unique_segment_name("ctl-dry");
  const std::vector<std::string> params = {"--cpus", "3", "--rings", "8", "--ring-records", "4096", "--endpoints", "16"};
  std::vector<std::string> dry = {"--segment", name, "init", "--dry-run"};
  dry.insert(dry.end(), params.begin(), params.end());
  const auto planned = run_tool(CANARY_CTL_PATH, dry);
  ASSERT_EQ(planned.exit_code, 0) << planned.err;
  EXPECT_FALSE(Segment::attach(name, Access::read_only)) << "--dry-run created the segment";
  std::vector<std::string> init = {"--segment", name, "init"};
  init.insert(init.end(), params.begin(), params.end());
  const auto created = run_tool(CANARY_CTL_PATH, init);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto segment = Segment::attach(name, Access::read_only);
  ASSERT_TRUE(segment);
  const std::string size = std::to_string(segment->header().total_size) + " bytes";
  EXPECT_NE(planned.out.find("would take " + size), std::string::npos) << planned.out;
  EXPECT_NE(created.out.find(size), std::string::npos) << created.out;
  (void)Segment::destroy(name);
}

TEST(CtlInitSize, ASegmentLargerThanDevShmIsRefusedBeforeAnythingChanges) {
  // The largest parameters make about 600 GB: more than any /dev/shm a test machine has. Created
  // sparse, it would kill the first worker that touched a page past the free space (SIGBUS).
  const std::string name = testing::unique_segment_name("ctl-huge");
  const auto r = run_tool(CANARY_CTL_PATH, {"--segment", name, "init", "--cpus", "4096", "--rings", "4096",
                                            "--ring-records", "4194304", "--endpoints", "128"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("MiB free"), std::string::npos) << r.err;
  EXPECT_FALSE(Segment::attach(name, Access::read_only));
}

}  // namespace
}  // namespace canary
