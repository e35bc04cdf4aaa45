// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "canary/ring.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::count_lines;
using testing::run_tool;
using testing::unique_segment_name;

class ToolTest : public ::testing::Test {
 protected:
  ToolTest() : name(unique_segment_name("tools")) {}
  ~ToolTest() override { (void)Segment::destroy(name); }

  testing::ToolResult tool(const char* path, std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(path, args);
  }
  testing::ToolResult ctl(std::vector<std::string> args) { return tool(CANARY_CTL_PATH, std::move(args)); }
  testing::ToolResult loadgen(std::vector<std::string> args) { return tool(CANARY_LOADGEN_PATH, std::move(args)); }
  testing::ToolResult dump(std::vector<std::string> args = {}) { return tool(CANARY_DUMP_PATH, std::move(args)); }

  json dump_json() {
    auto r = dump({"--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  std::string write_csv(const std::string& text) {
    const std::string path = "/tmp/" + name + ".csv";
    std::ofstream(path) << text;
    files.push_back(path);
    return path;
  }

  std::string name;
  std::vector<std::string> files;
};

TEST_F(ToolTest, FourWorkersTimes250kEqualTheDumpTotalsExactly) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  auto r = loadgen({"--workers", "4", "--requests", "250000", "--seed", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json truth = json::parse(r.out);
  EXPECT_EQ(truth["requests"], 1000000);
  const json d = dump_json();
  EXPECT_EQ(d["totals"], truth["totals"]);
  std::uint64_t sum = 0;
  for (const auto& [version, t] : d["totals"].items()) sum += t["requests"].get<std::uint64_t>();
  EXPECT_EQ(sum, 1000000u);
  // Every worker owned a ring, and every ring it owned is now dead.
  std::uint64_t owned = 0;
  for (const auto& ring : d["rings"])
    if (ring["owned"].get<bool>()) {
      ++owned;
      EXPECT_FALSE(ring["alive"].get<bool>());
    }
  EXPECT_EQ(owned, 4u);
}

TEST_F(ToolTest, AnotherRunAddsExactlyItsOwnGroundTruth) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  ASSERT_EQ(loadgen({"--workers", "2", "--requests", "5000"}).exit_code, 0);
  const json before = dump_json()["totals"];
  auto r = loadgen({"--workers", "3", "--requests", "7000", "--seed", "9", "--canary-error-rate", "0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json truth = json::parse(r.out)["totals"];
  const json after = dump_json()["totals"];
  for (const char* version : {"legacy", "canary"})
    for (const char* key : {"requests", "errors", "client_errors", "unavailable"})
      EXPECT_EQ(after[version][key].get<std::uint64_t>() - before[version][key].get<std::uint64_t>(),
                truth[version][key].get<std::uint64_t>())
          << version << " " << key;
}

TEST_F(ToolTest, ReplayRecordsExactlyTheRowsOfTheFile) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  std::string csv = "endpoint,method,user_id,version,status_code,response_time_ms\n";
  for (int i = 0; i < 9500; ++i)
    csv += "/api/v2/recommend/personalized,POST,user-" + std::to_string(i) + ",legacy," + (i < 5 ? "500" : "200") + ",250\n";
  for (int i = 0; i < 500; ++i)
    csv += "/api/v2/conversations/abc/turn,GET,user-" + std::to_string(i) + ",canary," + (i < 1 ? "503" : "200") + ",230.0005\n";
  auto r = loadgen({"--replay", write_csv(csv)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json d = dump_json();
  EXPECT_EQ(d["totals"], json::parse(r.out)["totals"]);
  EXPECT_EQ(d["totals"]["legacy"]["requests"], 9500);
  EXPECT_EQ(d["totals"]["legacy"]["errors"], 5);
  EXPECT_EQ(d["totals"]["canary"]["requests"], 500);
  EXPECT_EQ(d["totals"]["canary"]["errors"], 1);
  EXPECT_EQ(d["totals"]["canary"]["unavailable"], 1);
  EXPECT_NEAR(d["totals"]["canary"]["latency_sum_ms"].get<double>(), 115000.5, 1e-6);  // 230.0005 ms: half-up to 230001 us
  EXPECT_EQ(d["endpoints"]["/api/v2/conversations/{session_id}/turn"]["canary"]["requests"], 500);
}

TEST_F(ToolTest, ABadReplayRowIsReportedWithItsLineAndNothingIsRecorded) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  const std::string good = "/api/v2/conversations,GET,u1,legacy,200,1.5\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/api/v2/conversations,GET,u1,beta,200,1\n", "version"},
      {"/api/v2/conversations,GET,,legacy,200,1\n", "user id is empty"},
      {"/api/v2/conversations,GET," + std::string(1025, 'u') + ",legacy,200,1\n", "1025 bytes"},
      {"/api/v2/conversations,GET,u1,legacy,abc,1\n", "status_code"},
      {"/api/v2/conversations,GET,u1,legacy,-1,1\n", "status_code"},
      {"/api/v2/conversations,GET,u1,legacy,200,-1\n", "response_time_ms"},
      {"/api/v2/conversations,GET,u1,legacy,200,1e3\n", "response_time_ms"},
      {"/api/v2/conversations,GET,u1,legacy,200\n", "5 fields"},
      {"/api/v2/conversations,GET,u1,legacy,200,1,extra\n", "more than 6"},
      {",GET,u1,legacy,200,1\n", "endpoint is empty"},
      {"/api/v2/conversations,G3T,u1,legacy,200,1\n", "method"},
      {"\"/api/v2/conversations\",GET,u1,legacy,200,1\n", "must start with '/'"},
  };
  for (const auto& [row, why] : cases) {
    auto r = loadgen({"--replay", write_csv(good + good + row + good)});
    EXPECT_EQ(r.exit_code, 1) << row;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(".csv:3: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  }
  EXPECT_EQ(dump_json()["totals"], json::object());
  EXPECT_EQ(loadgen({"--replay", "/nonexistent/file.csv"}).exit_code, 1);
}

TEST_F(ToolTest, LoadgenRefusesBadFlagsAndMissingSegments) {
  EXPECT_EQ(loadgen({"--requests", "10"}).exit_code, 2);
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--workers", "0"},
           {"--requests", "-1"},
           {"--canary-error-rate", "1.5"},
           {"--canary-error-rate", "nan"},
           {"--legacy-latency-ms", "abc"},
           {"--legacy-latency-ms", "0"},
           {"--canary-latency-ms", "100:9"},
           {"--rate", "fast"},
           {"--users", "0"},
       }) {
    auto r = loadgen(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1];
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
  EXPECT_EQ(dump_json()["totals"], json::object());
}

TEST_F(ToolTest, DumpExitCodesSayWhatIsWrong) {
  auto missing = dump();
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos);

  int fd = shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 8192), 0);  // all zero: a header nobody finished
  const auto start = std::chrono::steady_clock::now();
  auto unready = dump();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(unready.exit_code, 3);
  EXPECT_NE(unready.err.find("not ready"), std::string::npos) << unready.err;
  EXPECT_GE(waited, 0.9);
  EXPECT_LT(waited, 5.0);

  const char junk[] = "certainly not a canary segment";
  ASSERT_EQ(pwrite(fd, junk, sizeof junk, 0), static_cast<ssize_t>(sizeof junk));
  close(fd);
  auto foreign = dump({"--json"});
  EXPECT_EQ(foreign.exit_code, 3);
  EXPECT_EQ(count_lines(foreign.err), 1);
  EXPECT_NE(foreign.err.find("not a canary-shm segment"), std::string::npos);
}

TEST_F(ToolTest, DumpShowsHeaderConfigTotalsRingsAndAggregator) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  ASSERT_EQ(loadgen({"--workers", "2", "--requests", "1000"}).exit_code, 0);
  auto text = dump();
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::string layout = "layout " + std::to_string(kLayoutVersion);
  for (const char* part : {layout.c_str(), "config: generation 1", "aggregator: none", "all endpoints", "legacy",
                           "/api/v2/conversations/{session_id}/turn", "rings: 2 owned (0 alive, 2 dead)"})
    EXPECT_NE(text.out.find(part), std::string::npos) << part << "\n" << text.out;
  const json d = dump_json();
  for (const char* key : {"enabled", "canary_percentage", "hash", "generation", "state"})
    EXPECT_TRUE(d["config"].contains(key)) << key;
  for (const char* key : {"pid", "alive", "records", "fill", "drops"}) EXPECT_TRUE(d["rings"][0].contains(key)) << key;
  EXPECT_EQ(d["aggregator"]["status"], "none");
}

TEST_F(ToolTest, DumpWatchPrintsAgainAndAgain) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  auto r = dump({"--json", "--watch", "1", "--count", "2"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.out), 2);
  EXPECT_TRUE(json::parse(r.out.substr(0, r.out.find('\n'))).contains("totals"));
  EXPECT_EQ(dump({"--watch", "0"}).exit_code, 1);
}

TEST_F(ToolTest, DumpNeverChangesTheSegment) {
  ASSERT_EQ(ctl({"init", "--cpus", "2", "--rings", "4", "--ring-records", "256"}).exit_code, 0);
  ASSERT_EQ(loadgen({"--workers", "2", "--requests", "300"}).exit_code, 0);
  auto bytes = [&] {
    std::ifstream in("/dev/shm/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = bytes();
  ASSERT_EQ(dump().exit_code, 0);
  ASSERT_EQ(dump({"--json"}).exit_code, 0);
  EXPECT_TRUE(before == bytes());
}

TEST_F(ToolTest, ReapFreesDeadWritersRingsUnlessAnAggregatorRuns) {
  ASSERT_EQ(ctl({"init", "--cpus", "2", "--ring-records", "256"}).exit_code, 0);
  ASSERT_EQ(loadgen({"--workers", "3", "--requests", "100"}).exit_code, 0);
  {
    auto segment = Segment::attach(name, Access::read_write);
    auto consumer = RingConsumer::open(*segment);  // as an aggregator would hold it
    ASSERT_TRUE(consumer);
    auto busy = ctl({"reap"});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("aggregator is running"), std::string::npos);
  }
  auto r = ctl({"reap"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("freed 3 rings"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("300 undrained"), std::string::npos) << r.out;
  const json d = dump_json();
  EXPECT_EQ(d["drops"]["reaped"], 300);
  for (const auto& ring : d["rings"]) EXPECT_FALSE(ring["owned"].get<bool>());
  EXPECT_EQ(d["totals"]["legacy"]["requests"].get<std::uint64_t>() +
                d["totals"].value("canary", json{{"requests", 0}})["requests"].get<std::uint64_t>(),
            300u);
}

}  // namespace
}  // namespace canary
