// SPDX-License-Identifier: Apache-2.0
// Nothing the aggregator survives is silent: a state directory it cannot use refuses the start; a
// checkpoint, an event line or a webhook that fails later is logged, counted in /metrics and shown
// in /status with its time; the events file never holds half a line; every file it creates is
// 0600. And the operator's levers: SIGHUP reloads the policy (or keeps the old one, saying why),
// log lines in logfmt or JSON for every event.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
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
using testing::AggregatorProcess;
using testing::run_tool;
using testing::ServerProcess;
using namespace std::chrono_literals;

class AggregatorFailures : public ::testing::Test {
 protected:
  AggregatorFailures() : name(testing::unique_segment_name("fail")) {
    EXPECT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  }
  ~AggregatorFailures() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }
  std::vector<std::string> aggregator_args(std::vector<std::string> extra) {
    std::vector<std::string> args = {CANARY_AGGREGATOR_PATH, "--segment", name, "--listen", "127.0.0.1:0", "--interval-ms", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static std::string get(int port, const std::string& path) { return testing::get_body(port, path); }
  // The value of an unlabelled series in /metrics, -1 when absent.
  static double metric(int port, const std::string& series) {
    std::istringstream lines(get(port, "/metrics"));
    for (std::string line; std::getline(lines, line);)
      if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return -1;
  }
  static json status(int port) { return json::parse(get(port, "/api/v2/admin/canary/status"), nullptr, false); }
  static bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    return testing::wait_until(condition, timeout);
  }

  std::string name;
  testing::ScratchDir dir{"fail"};
};

TEST_F(AggregatorFailures, AStateDirItCannotUseRefusesTheStartInOneLine) {
  std::ofstream(dir.path + "/a-file") << "x";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir.path + "/missing", "No such file or directory"},
      {dir.path + "/a-file", "is not a directory"},
      {"/proc", "cannot be written"},  // not even root may create files there
  };
  for (const auto& [path, why] : cases) {
    ServerProcess p(aggregator_args({"--state-dir", path}));
    EXPECT_FALSE(p.started()) << path;
    EXPECT_EQ(p.wait_exit(), 1) << path;
    EXPECT_EQ(testing::count_lines(p.output()), 1) << p.output();
    EXPECT_NE(p.output().find("--state-dir '" + path + "'"), std::string::npos) << p.output();
    EXPECT_NE(p.output().find(why), std::string::npos) << p.output();
  }
}

TEST_F(AggregatorFailures, ACheckpointThatFailsIsLoggedCountedAndShownWithItsTime) {
  // The checkpoint's temporary file cannot be created: a directory stands where it goes.
  std::filesystem::create_directory(dir.path + "/" + name + ".checkpoint.tmp");
  AggregatorProcess agg(name, {"--state-dir", dir.path, "--checkpoint-s", "1", "--interval-ms", "100"});
  ASSERT_TRUE(agg.started()) << agg.output();
  EXPECT_TRUE(agg.wait_for_output("msg=\"checkpoint failed\"", 5s)) << agg.output();
  EXPECT_NE(agg.output().find("level=error"), std::string::npos);
  EXPECT_GE(metric(agg.port(), "canary_checkpoint_failures_total"), 1);
  const json checkpoint = status(agg.port())["aggregator"]["checkpoint"];
  EXPECT_GE(checkpoint["failures"].get<int>(), 1) << checkpoint;
  EXPECT_TRUE(checkpoint.contains("last_failure")) << checkpoint;
  EXPECT_NE(checkpoint["last_error"].get<std::string>().find("Is a directory"), std::string::npos) << checkpoint;
  // Healthy series start at zero rather than being absent.
  EXPECT_EQ(metric(agg.port(), "canary_event_write_failures_total"), 0);
  EXPECT_EQ(metric(agg.port(), "canary_webhook_failures_total"), 0);
  EXPECT_EQ(metric(agg.port(), "canary_events_lost_total"), 0);
}

TEST_F(AggregatorFailures, AnEventThatCannotBeWrittenIsLoggedCountedAndShown) {
  std::filesystem::create_directory(dir.path + "/" + name + ".events.jsonl");
  AggregatorProcess agg(name, {"--state-dir", dir.path, "--interval-ms", "100"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"pause"}).exit_code, 0);
  EXPECT_TRUE(agg.wait_for_output("event not written to the events file", 5s)) << agg.output();
  EXPECT_TRUE(wait_for([&] { return metric(agg.port(), "canary_event_write_failures_total") >= 1; }, 5s));
  const json events = status(agg.port())["aggregator"]["event_log"];
  EXPECT_GE(events["failures"].get<int>(), 1) << events;
  EXPECT_TRUE(events.contains("last_failure")) << events;
}

TEST_F(AggregatorFailures, TheEventsFileHoldsOnlyWholeLinesWhenTheDiskFillsUp) {
  // A file size limit of 1,200 bytes stands in for a full disk: the write that crosses it is cut
  // short, the next fails. The aggregator ignores SIGXFSZ and cuts the partial line back.
  ServerProcess agg({"/usr/bin/prlimit", "--fsize=1200", "--", CANARY_AGGREGATOR_PATH, "--segment", name, "--listen",
                     "127.0.0.1:0", "--interval-ms", "100", "--state-dir", dir.path, "--checkpoint-s", "3600"});
  ASSERT_TRUE(agg.started()) << agg.output();
  for (int i = 0; i < 8; ++i) ASSERT_EQ(ctl({i % 2 == 0 ? "pause" : "resume", "--reason", "filling the disk"}).exit_code, 0);
  EXPECT_TRUE(wait_for([&] { return metric(agg.port(), "canary_event_write_failures_total") >= 1; }, 5s)) << agg.output();
  std::ifstream in(dir.path + "/" + name + ".events.jsonl");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::istringstream lines(text);
  int whole = 0;
  for (std::string line; std::getline(lines, line); ++whole) EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  EXPECT_GE(whole, 1);
  EXPECT_LT(whole, 8);
  EXPECT_EQ(agg.stop(), 0) << "the size limit must not kill it";
}

TEST_F(AggregatorFailures, EveryFileInTheStateDirIsCreated0600) {
  AggregatorProcess agg(name, {"--state-dir", dir.path, "--checkpoint-s", "1"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"pause"}).exit_code, 0);
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(dir.path + "/" + name + ".events.jsonl"); }, 5s));
  EXPECT_EQ(agg.stop(), 0);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    struct stat st {};
    ASSERT_EQ(stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 2);  // the checkpoint and the events
}

TEST_F(AggregatorFailures, AWebhookGivenUpAfterItsRetriesIsLoggedAndCounted) {
  // Nothing listens on the port: every attempt fails at once.
  std::ofstream(dir.path + "/policy.yaml") << "webhooks:\n  - {kind: slack, url: http://127.0.0.1:9/hook}\nwebhook_retries: 1\n";
  AggregatorProcess agg(name, {"--policy", dir.path + "/policy.yaml"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"pause"}).exit_code, 0);
  EXPECT_TRUE(agg.wait_for_output("webhook delivery failed", 5s)) << agg.output();
  EXPECT_NE(agg.output().find("after 2 attempts"), std::string::npos) << agg.output();
  EXPECT_EQ(metric(agg.port(), "canary_webhook_failures_total"), 1);
  EXPECT_EQ(status(agg.port())["aggregator"]["webhooks"]["failures"], 1);
}

TEST_F(AggregatorFailures, EveryEventIsALogLineInLogfmtOrJson) {
  {
    AggregatorProcess agg(name, {});
    ASSERT_TRUE(agg.started()) << agg.output();
    ASSERT_EQ(ctl({"pause", "--reason", "deploy freeze"}).exit_code, 0);
    EXPECT_TRUE(agg.wait_for_output("kind=paused", 5s)) << agg.output();
    EXPECT_NE(agg.output().find("level=info msg=\"deployment event\""), std::string::npos) << agg.output();
    EXPECT_NE(agg.output().find("reason=\"deploy freeze\""), std::string::npos) << agg.output();
  }
  AggregatorProcess agg(name, {"--log-format", "json"});
  ASSERT_TRUE(agg.started()) << agg.output();
  ASSERT_EQ(ctl({"rollback", "--reason", "bad canary"}).exit_code, 0);
  ASSERT_TRUE(agg.wait_for_output("\"kind\":\"rolled_back\"", 5s)) << agg.output();
  const std::string& out = agg.output();
  const auto start = out.rfind('\n', out.find("\"kind\":\"rolled_back\"")) + 1;
  const json line = json::parse(out.substr(start, out.find('\n', start) - start), nullptr, false);
  ASSERT_FALSE(line.is_discarded()) << out;
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["msg"], "deployment event");
  EXPECT_EQ(line["reason"], "bad canary");
  EXPECT_TRUE(line.contains("time"));
}

TEST_F(AggregatorFailures, SighupReloadsTheValidPolicyAndKeepsTheOldOneOtherwise) {
  const std::string policy = dir.path + "/policy.yaml";
  std::ofstream(policy) << "rollback: {max_error_rate: 5}\n";
  AggregatorProcess agg(name, {"--policy", policy});
  ASSERT_TRUE(agg.started()) << agg.output();
  const std::string threshold = "canary_decision_check_threshold_ratio{kind=\"trigger\",check=\"canary_error_rate\",window=\"change\"}";
  ASSERT_TRUE(wait_for([&] { return metric(agg.port(), threshold) == 0.05; }, 5s)) << get(agg.port(), "/metrics");

  std::ofstream(policy) << "rollback: {max_error_rate: 7.5}\n";
  kill(agg.pid(), SIGHUP);
  EXPECT_TRUE(agg.wait_for_output("SIGHUP: policy reloaded", 5s)) << agg.output();
  EXPECT_TRUE(wait_for([&] { return metric(agg.port(), threshold) == 0.075; }, 5s));

  std::ofstream(policy) << "rollback: {max_error_rate: lots}\n";
  kill(agg.pid(), SIGHUP);
  EXPECT_TRUE(agg.wait_for_output("SIGHUP: the policy file was refused", 5s)) << agg.output();
  EXPECT_NE(agg.output().find("rollback.max_error_rate"), std::string::npos);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(metric(agg.port(), threshold), 0.075);
  EXPECT_EQ(agg.stop(), 0) << "SIGHUP must not have killed it";
}

}  // namespace
}  // namespace canary
