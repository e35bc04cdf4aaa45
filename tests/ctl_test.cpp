// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "canary/config.hpp"
#include "canary/router.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::count_lines;
using testing::run_tool;
using testing::unique_segment_name;

class CtlTest : public ::testing::Test {
 protected:
  CtlTest() : name(unique_segment_name("ctl")) {}
  ~CtlTest() override { (void)Segment::destroy(name); }

  testing::ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--segment", name});
    return run_tool(CANARY_CTL_PATH, args);
  }

  std::map<std::string, std::string> status() {
    auto r = ctl({"status"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, std::string> kv;
    std::size_t start = 0;
    while (start < r.out.size()) {
      const std::size_t end = r.out.find('\n', start);
      const std::string line = r.out.substr(start, end - start);
      const std::size_t colon = line.find(": ");
      if (colon != std::string::npos) kv[line.substr(0, colon)] = line.substr(colon + 2);
      start = end + 1;
    }
    return kv;
  }

  // Asserts the command failed with one line on stderr and left the whole status output unchanged.
  void expect_refused(const std::vector<std::string>& args, const std::string& why) {
    auto before = ctl({"status"}).out;
    auto r = ctl(args);
    EXPECT_NE(r.exit_code, 0) << args.back();
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(ctl({"status"}).out, before) << args.back();
  }

  std::string name;
};

TEST_F(CtlTest, InitSeedsTheSevenEndpointsFivePercentEnabledXxh3SaltZero) {
  auto r = ctl({"init", "--cpus", "2", "--rings", "4", "--ring-records", "256"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = status();
  EXPECT_EQ(s["enabled"], "true");
  EXPECT_EQ(s["canary_percentage"], "5");
  EXPECT_EQ(s["hash"], "xxh3");
  EXPECT_EQ(s["salt"], "0");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["endpoints"], "8");
  EXPECT_EQ(s["endpoint.0"], "other canary=false");
  EXPECT_EQ(s["endpoint.4"], "/api/v2/conversations/{session_id}/turn canary=true");
  EXPECT_EQ(s["aggregator"], "none (never ran)");
  EXPECT_EQ(s["generation"], "1");
}

TEST_F(CtlTest, StatusPrintsNothingThatChangesByItself) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  const auto first = ctl({"status"});
  sleep(1);
  EXPECT_EQ(ctl({"status"}).out, first.out);
}

TEST_F(CtlTest, InitRefusesAnExistingSegmentUnlessForced) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  ASSERT_EQ(ctl({"set-percentage", "20"}).exit_code, 0);
  auto again = ctl({"init", "--cpus", "2"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already exists"), std::string::npos);
  EXPECT_EQ(status()["canary_percentage"], "20");
  ASSERT_EQ(ctl({"init", "--cpus", "2", "--force"}).exit_code, 0);
  EXPECT_EQ(status()["canary_percentage"], "5");
}

TEST_F(CtlTest, RouteAgreesWithTheFormulaOfTheSpec) {
  ASSERT_EQ(ctl({"init", "--cpus", "2", "--percentage", "50"}).exit_code, 0);
  // One user per run, then 40 in one run (a line each, in order): the same answers.
  const auto single = ctl({"route", "--user", "user-0", "--path", "/api/v2/conversations/abc/turn"});
  ASSERT_EQ(single.exit_code, 0) << single.err;
  std::vector<std::string> users;
  for (int i = 0; i < 40; ++i) users.push_back("user-" + std::to_string(i));
  const auto on_template = testing::route_users(CANARY_CTL_PATH, name, users, "/api/v2/conversations/abc/turn");
  const auto no_path = testing::route_users(CANARY_CTL_PATH, name, users, "");
  const auto off_template = testing::route_users(CANARY_CTL_PATH, name, users, "/not/a/template");
  ASSERT_EQ(on_template.size(), users.size());
  EXPECT_EQ(single.out, on_template[0] + "\n");
  for (std::size_t i = 0; i < users.size(); ++i) {
    const bool canary = XXH3_64bits_withSeed(users[i].data(), users[i].size(), 0) % 10000 < 5000;
    EXPECT_EQ(on_template[i], canary ? "canary" : "legacy") << users[i];
    EXPECT_EQ(no_path.at(i), on_template[i]) << users[i];  // is_canary_user: the same split
    EXPECT_EQ(off_template.at(i), "legacy") << users[i];
  }
  // One bad user among many: one line naming it, nothing printed for the others.
  auto bad = ctl({"route", "--user", "ok", "--user", "", "--path", "/api/v2/conversations"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("user id is empty"), std::string::npos) << bad.err;
}

TEST_F(CtlTest, ChangesShowInStatus) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  EXPECT_EQ(ctl({"set-percentage", "12.5"}).exit_code, 0);
  EXPECT_EQ(ctl({"disable"}).exit_code, 0);
  EXPECT_EQ(ctl({"add-endpoint", "/api/v2/new_feature/{id}/"}).exit_code, 0);
  EXPECT_EQ(ctl({"remove-endpoint", "/api/v2/recommend/compare"}).exit_code, 0);
  EXPECT_EQ(ctl({"set-salt", "42"}).exit_code, 0);
  EXPECT_EQ(ctl({"pin", "--user", "tester", "--version", "canary"}).exit_code, 0);
  auto s = status();
  EXPECT_EQ(s["canary_percentage"], "12.5");
  EXPECT_EQ(s["share_bp"], "1250");
  EXPECT_EQ(s["enabled"], "false");
  EXPECT_EQ(s["endpoint.8"], "/api/v2/new_feature/{id} canary=true");
  EXPECT_EQ(s["endpoint.2"], "/api/v2/recommend/compare canary=false");
  EXPECT_EQ(s["salt"], "42");
  EXPECT_EQ(s["pin.0"], "tester canary");
  EXPECT_NE(s["changed_by"].find("canary-ctl pin by "), std::string::npos);
  EXPECT_EQ(s["generation"], "7");
  EXPECT_EQ(ctl({"enable"}).exit_code, 0);
  EXPECT_EQ(ctl({"route", "--user", "tester"}).out, "canary\n");
  EXPECT_EQ(ctl({"unpin", "--user", "tester"}).exit_code, 0);
  EXPECT_EQ(status()["pins"], "0");
}

TEST_F(CtlTest, BadInputGetsOneLineAndChangesNothing) {
  ASSERT_EQ(ctl({"init", "--cpus", "2"}).exit_code, 0);
  expect_refused({"set-percentage", "-1"}, "not a number");
  expect_refused({"set-percentage", "101"}, "above 100");
  expect_refused({"set-percentage", "abc"}, "not a number");
  expect_refused({"set-percentage", "nan"}, "not a number");
  expect_refused({"set-percentage", "1e400"}, "not a number");
  expect_refused({"set-percentage", "5.123"}, "more than two decimals");
  expect_refused({"add-endpoint", ""}, "empty");
  expect_refused({"add-endpoint", "/" + std::string(10239, 'a')}, "10240 bytes");
  expect_refused({"remove-endpoint", "/api/v2/never_registered"}, "unknown endpoint");
  expect_refused({"set-hash", "sha1"}, "xxh3 or md5");
  expect_refused({"set-salt", "-5"}, "whole number");
  expect_refused({"set-salt", "18446744073709551616"}, "whole number");
  expect_refused({"pin", "--user", "", "--version", "canary"}, "empty");
  expect_refused({"pin", "--user", std::string(1025, 'u'), "--version", "canary"}, "1025 bytes");
  expect_refused({"pin", "--user", "x", "--version", "beta"}, "canary or legacy");
  expect_refused({"unpin", "--user", "nobody"}, "not pinned");
  expect_refused({"route", "--user", "u", "--path", ""}, "path is empty");
  expect_refused({"route", "--user", "u", "--path", "/" + std::string(10239, 'a')}, "10240 bytes");
  expect_refused({"no-such-command"}, "no-such-command");
  // md5 mode takes whole percents only, both ways.
  ASSERT_EQ(ctl({"set-percentage", "5.5"}).exit_code, 0);
  expect_refused({"set-hash", "md5"}, "whole percents");
  ASSERT_EQ(ctl({"set-percentage", "5"}).exit_code, 0);
  ASSERT_EQ(ctl({"set-hash", "md5"}).exit_code, 0);
  expect_refused({"set-percentage", "5.5"}, "whole percents");
}

TEST_F(CtlTest, InitRefusesBadSizesAndModes) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"init", "--endpoints", "1"},
           {"init", "--endpoints", "129"},
           {"init", "--rings", "0"},
           {"init", "--ring-records", "1000"},
           {"init", "--mode", "0999"},
           {"init", "--mode", "0400"},
           {"init", "--cpus", "0x10"},
           {"init", "--percentage", "5.5", "--hash", "md5"},
           {"init", "--group", "no-such-group-here"},
       }) {
    auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 1) << args[1];
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(Segment::attach(name, Access::read_only).status().code(), Errc::missing) << args[1];
  }
}

TEST_F(CtlTest, ASegmentThatIsNotOursIsRefusedWithExitCode3) {
  int fd = shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
  const char junk[] = "definitely not a canary segment";
  ASSERT_EQ(pwrite(fd, junk, sizeof junk, 0), static_cast<ssize_t>(sizeof junk));
  close(fd);
  for (const char* command : {"status", "enable", "set-percentage"}) {
    std::vector<std::string> args{command};
    if (std::string(command) == "set-percentage") args.push_back("10");
    auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 3) << command;
    EXPECT_NE(r.err.find("not a canary-shm segment"), std::string::npos) << r.err;
  }
}

TEST_F(CtlTest, InitRefusesAModeEveryUserMayWriteAndWarnsOfOneEveryUserMayRead) {
  auto r = ctl({"init", "--mode", "0666"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--allow-world-writable"), std::string::npos) << r.err;
  EXPECT_EQ(Segment::attach(name, Access::read_only).status().code(), Errc::missing);
  r = ctl({"init", "--mode", "0664"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("warning: mode 0664 lets every local user read the segment"), std::string::npos) << r.err;
  r = ctl({"init", "--force", "--mode", "0666", "--allow-world-writable"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ctl({"status"}).exit_code, 0) << "its creator allowed it";
}

TEST_F(CtlTest, ASegmentAnotherUserOwnsIsRefusedByEveryToolWithExitCode3) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to act as another user";
  const pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    execl(CANARY_CTL_PATH, CANARY_CTL_PATH, "--segment", name.c_str(), "init", "--percentage", "100", nullptr);
    _exit(3);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"status"}, {"set-percentage", "0"}, {"route", "--user", "u1"}}) {
    auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("owned by nobody, uid 65534 (mode 0600)"), std::string::npos) << r.err;
  }
  auto dump = run_tool(CANARY_DUMP_PATH, {"--segment", name});
  EXPECT_EQ(dump.exit_code, 3) << dump.err;
  EXPECT_NE(dump.err.find("owned by nobody"), std::string::npos) << dump.err;
  auto load = run_tool(CANARY_LOADGEN_PATH, {"--segment", name, "--requests", "10"});
  EXPECT_NE(load.exit_code, 0);
  EXPECT_NE(load.err.find("owned by nobody"), std::string::npos) << load.err;
  // The one way out: remove it (and create it again as the service's user).
  EXPECT_EQ(ctl({"destroy"}).exit_code, 0);
}

TEST_F(CtlTest, AnEtcdPasswordOverHttpOrInAFileEveryUserMayReadIsWarnedOf) {
  const std::string password = "/tmp/" + name + ".password";
  { std::ofstream(password) << "pw\n"; }
  ASSERT_EQ(chmod(password.c_str(), 0644), 0);
  // No etcd listens on port 1: the warnings come first, then the call waits for etcd, cut short.
  auto r = run_tool("/usr/bin/timeout", {"1", CANARY_CTL_PATH, "--etcd", "http://127.0.0.1:1", "--deployment", "d", "--etcd-user",
                                         "u", "--etcd-password-file", password, "--etcd-timeout-ms", "100", "status"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the etcd password is sent in clear text"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("readable by every local user"), std::string::npos) << r.err;
  ASSERT_EQ(chmod(password.c_str(), 0600), 0);
  r = run_tool("/usr/bin/timeout", {"1", CANARY_CTL_PATH, "--etcd", "https://127.0.0.1:1", "--deployment", "d", "--etcd-user",
                                    "u", "--etcd-password-file", password, "--etcd-timeout-ms", "100", "status"});
  EXPECT_EQ(r.err.find("clear text"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("readable by every local user"), std::string::npos) << r.err;
  std::remove(password.c_str());
}

TEST_F(CtlTest, StatusWatchPrintsAgainWhenTheStatusChangesUntilStopped) {
  ASSERT_EQ(ctl({"init"}).exit_code, 0);
  testing::ToolResult watched;
  std::thread watcher([&] {
    watched = run_tool("/usr/bin/timeout", {"--preserve-status", "-s", "TERM", "2", CANARY_CTL_PATH, "--segment", name, "status", "--watch", "--every", "0.1"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(ctl({"set-percentage", "10"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(ctl({"destroy"}).exit_code, 0);
  watcher.join();
  EXPECT_EQ(watched.exit_code, 0) << "SIGTERM ends the watch: " << watched.err;
  const std::string& out = watched.out;
  const auto first = out.find("canary_percentage: 5\n"), second = out.find("canary_percentage: 10\n");
  EXPECT_NE(first, std::string::npos) << out;
  EXPECT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_NE(out.find("unavailable: segment '" + name + "' does not exist"), std::string::npos) << out;
  std::size_t prints = 0;
  for (std::size_t at = 0; (at = out.find("--- ", at)) != std::string::npos; ++at) ++prints;
  EXPECT_EQ(prints, 3u) << "once, then at each change only: " << out;
  EXPECT_EQ(ctl({"status", "--every", "1"}).exit_code, 1);
}

TEST_F(CtlTest, AMissingSegmentExitsWith2) {
  auto r = ctl({"status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos);
}

TEST_F(CtlTest, HelpExitsZero) {
  auto r = run_tool(CANARY_CTL_PATH, {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("set-percentage"), std::string::npos);
}

}  // namespace
}  // namespace canary
