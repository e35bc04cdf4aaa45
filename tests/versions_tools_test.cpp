// SPDX-License-Identifier: Apache-2.0
// Three versions through the tools: canary-ctl's version commands, routing by name, loadgen's
// per-version flags and replay, and dump totals keyed by version name, counted exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tool.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::run_tool;
using testing::unique_segment_name;

class VersionTools : public ::testing::Test {
 protected:
  VersionTools() : name(unique_segment_name("versions")) {}
  ~VersionTools() override {
    (void)Segment::destroy(name);
    std::remove(csv.c_str());
  }
  testing::ToolResult tool(const char* path, std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(path, args);
  }
  testing::ToolResult ctl(std::vector<std::string> args) { return tool(CANARY_CTL_PATH, std::move(args)); }
  json dump_json() {
    auto r = tool(CANARY_DUMP_PATH, {"--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
  std::string name;
  std::string csv = "/tmp/" + name + ".csv";
};

TEST_F(VersionTools, VersionAddRoutesItsShareAndEveryCommandNamesItsCandidate) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  auto r = ctl({"version", "add", "canary2", "--share", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"version", "list"});
  EXPECT_NE(r.out.find("version.0: legacy baseline share=93%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("version.2: canary2 candidate share=2% state=running"), std::string::npos) << r.out;
  // Without --version, a command that needs one candidate is refused with the list.
  r = ctl({"set-percentage", "10"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("canary, canary2"), std::string::npos) << r.err;
  ASSERT_EQ(ctl({"set-percentage", "10", "--version", "canary"}).exit_code, 0);
  EXPECT_NE(ctl({"set-percentage", "95", "--version", "canary2"}).exit_code, 0);  // sum above 100%
  EXPECT_NE(ctl({"version", "add", "Bad"}).exit_code, 0);
  EXPECT_NE(ctl({"version", "remove", "canary2"}).exit_code, 0);  // still has users
  ASSERT_EQ(ctl({"pin", "--user", "alice", "--version", "canary2"}).exit_code, 0);
  r = ctl({"route", "--user", "alice"});
  EXPECT_EQ(r.out, "canary2\n");

  // About 2% of users go to canary2 (4 sd at 20,000 users: 0.4 points).
  int seen = 0;
  std::string list;
  for (int u = 0; u < 400; ++u) {
    r = ctl({"route", "--user", "u" + std::to_string(u)});
    seen += r.out == "canary2\n" ? 1 : 0;
  }
  EXPECT_GE(seen, 1);
  EXPECT_LE(seen, 24);  // 2% of 400 is 8; 4 sd above is about 19

  ASSERT_EQ(ctl({"rollback", "--version", "canary2"}).exit_code, 0);
  r = ctl({"status"});
  EXPECT_NE(r.out.find("canary2 candidate share=0% state=rolled_back"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("state: running"), std::string::npos);  // the first candidate runs on
  EXPECT_NE(r.out.find("canary_percentage: 10"), std::string::npos);
}

TEST_F(VersionTools, LoadgenAndDumpCountEveryVersionByNameExactly) {
  ASSERT_EQ(ctl({"init", "--cpus", "2", "--percentage", "20"}).exit_code, 0);
  ASSERT_EQ(ctl({"version", "add", "canary2", "--share", "30"}).exit_code, 0);
  auto r = tool(CANARY_LOADGEN_PATH, {"--workers", "2", "--requests", "20000", "--versions", "legacy,canary,canary2",
                                      "--error-rates", "canary2=0.2,legacy=0.01", "--latencies-ms", "canary2=400:0.3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json truth = json::parse(r.out);
  const json d = dump_json();
  for (const char* v : {"legacy", "canary", "canary2"}) {
    ASSERT_TRUE(truth["totals"].contains(v)) << v;
    EXPECT_EQ(d["totals"][v], truth["totals"][v]) << v;
  }
  const double c2 = truth["totals"]["canary2"]["requests"].get<double>();
  EXPECT_NEAR(c2 / 40000, 0.30 * 7 / 8, 0.02);  // one request path in 8 matches no template: legacy
  EXPECT_NEAR(truth["totals"]["canary2"]["errors"].get<double>() / c2, 0.2, 0.03);
  EXPECT_EQ(d["config"]["versions"].size(), 3u);
  EXPECT_NE(tool(CANARY_LOADGEN_PATH, {"--versions", "legacy,nope"}).exit_code, 0);
  EXPECT_NE(tool(CANARY_LOADGEN_PATH, {"--error-rates", "nope=0.1"}).exit_code, 0);

  // Replay takes any configured version name, and refuses others with the line number.
  std::ofstream(csv) << "/api/v2/conversations,GET,u1,canary2,200,12.5\n/api/v2/conversations,GET,u2,legacy,200,1\n";
  r = tool(CANARY_LOADGEN_PATH, {"--replay", csv});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(dump_json()["totals"]["canary2"]["requests"], truth["totals"]["canary2"]["requests"].get<int>() + 1);
  std::ofstream(csv) << "/api/v2/conversations,GET,u1,canary3,200,12.5\n";
  r = tool(CANARY_LOADGEN_PATH, {"--replay", csv});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(":1: version 'canary3'"), std::string::npos) << r.err;
}

TEST_F(VersionTools, SwitchSendsEveryoneToOneVersionAndBack) {
  ASSERT_EQ(ctl({"init", "--cpus", "2", "--percentage", "1"}).exit_code, 0);
  ASSERT_EQ(ctl({"switch", "--to", "canary"}).exit_code, 0);
  for (int u = 0; u < 20; ++u) EXPECT_EQ(ctl({"route", "--user", "u" + std::to_string(u)}).out, "canary\n");
  EXPECT_NE(ctl({"set-percentage", "5"}).exit_code, 0);  // refused while switched
  ASSERT_EQ(ctl({"switch", "--back"}).exit_code, 0);
  int canary = 0;
  for (int u = 0; u < 20; ++u) canary += ctl({"route", "--user", "u" + std::to_string(u)}).out == "canary\n";
  EXPECT_LT(canary, 5);
  EXPECT_NE(ctl({"switch", "--back"}).exit_code, 0);
  EXPECT_NE(ctl({"switch"}).exit_code, 0);
  EXPECT_NE(ctl({"switch", "--to", "nope"}).exit_code, 0);
}

}  // namespace
}  // namespace canary
