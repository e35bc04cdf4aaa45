// SPDX-License-Identifier: Apache-2.0
// Fleet mode end to end (SPEC section 11), on a real three-member etcd cluster: four hosts in two
// regions (each its own segment, aggregator and canary-loadgen workers) and two canary-fleet
// controllers. Members, controllers and hosts are killed with SIGKILL and started again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "canary/fleet/etcd_client.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/http/client.hpp"
#include "etcd_cluster.hpp"
#include "process.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "server_process.hpp"

namespace canary::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

json get_json(int port, const std::string& path) {
  http::ClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + path;
  r.timeout = 2000ms;
  auto answer = http::fetch(r);
  if (!answer || answer->status != 200) return json::object();
  json j = json::parse(answer->body, nullptr, false);
  return j.is_object() ? j : json::object();
}

// canary-loadgen in a process group of its own, output discarded: stop_load() kills it and its
// workers together (killing only a parent would leave workers writing into later tests' segments).
pid_t start_load(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> argv{const_cast<char*>(CANARY_LOADGEN_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CANARY_LOADGEN_PATH, argv.data());
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}
void stop_load(pid_t pid) {
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

struct Host {
  std::string id, region, segment;
  std::unique_ptr<AggregatorProcess> aggregator;
};

// Per version, what loadgen runs counted on their side.
struct Truth {
  std::uint64_t legacy = 0, canary = 0;
};

class Fleet : public ::testing::Test {
 protected:
  ScratchDir dir{"fleet"};
  std::unique_ptr<EtcdCluster> etcd;
  std::vector<Host> hosts;
  std::unique_ptr<ServerProcess> controllers[2];
  std::vector<pid_t> loads;  // paced loadgen runs: stopped in TearDown whatever happened
  const std::string deployment = "d" + std::to_string(getpid());

  void SetUp() override {
    etcd = std::make_unique<EtcdCluster>(dir.path, 3);
    ASSERT_TRUE(etcd->wait_ready()) << "etcd did not start; see " << dir.path;
  }
  void TearDown() override {
    for (pid_t p : loads) stop_load(p);
    loads.clear();
    for (auto& c : controllers) c.reset();
    for (Host& h : hosts) {
      h.aggregator.reset();
      run_tool(CANARY_CTL_PATH, {"--segment", h.segment, "--etcd", etcd->endpoints(), "destroy", "--even-if-live"});
    }
  }

  void start_host(Host& h) {
    h.aggregator = std::make_unique<AggregatorProcess>(
        h.segment, std::vector<std::string>{"--interval-ms", "500", "--etcd", etcd->endpoints(), "--deployment", deployment,
                                            "--host-id", h.id, "--region", h.region, "--lease-ttl", "3"});
    ASSERT_TRUE(h.aggregator->started()) << h.aggregator->output();
  }
  void start_hosts() {
    for (auto [id, region] : {std::pair{"a1", "A"}, {"a2", "A"}, {"b1", "B"}, {"b2", "B"}}) {
      Host h{id, region, "fleet-" + std::to_string(getpid()) + "-" + id, nullptr};
      ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", h.segment, "init", "--force", "--cpus", "2"}).exit_code, 0);
      hosts.push_back(std::move(h));
      start_host(hosts.back());
    }
  }
  void start_controller(int i, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {CANARY_FLEET_PATH, "--etcd", etcd->endpoints(), "--deployment", deployment, "--listen",
                                     "127.0.0.1:0", "--id", "c" + std::to_string(i), "--lease-ttl", "3", "--interval-ms", "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    controllers[i] = std::make_unique<ServerProcess>(args);
    ASSERT_TRUE(controllers[i]->started()) << controllers[i]->output();
  }
  // The index of the leading controller, or -1.
  int leader() {
    for (int i = 0; i < 2; ++i)
      if (controllers[i] && get_json(controllers[i]->port(), "/healthz").value("leader", false)) return i;
    return -1;
  }
  ToolResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--etcd", etcd->endpoints(), "--deployment", deployment});
    return run_tool(CANARY_CTL_PATH, args);
  }
  void set_policy(const std::string& yaml) {
    const std::string file = dir.path + "/policy.yaml";
    std::ofstream(file) << yaml;
    const ToolResult r = ctl({"policy", "set", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The candidate's share on a host, in percent, from its segment.
  static double share_of(const Host& h) {
    const ToolResult r = run_tool(CANARY_CTL_PATH, {"--segment", h.segment, "status"});
    const auto at = r.out.find("canary_percentage: ");
    return at == std::string::npos ? -1 : std::stod(r.out.substr(at + 19));
  }
  static std::string state_of(const Host& h) {
    const ToolResult r = run_tool(CANARY_CTL_PATH, {"--segment", h.segment, "status"});
    const auto at = r.out.find("\nstate: ");
    return at == std::string::npos ? "" : r.out.substr(at + 8, r.out.find('\n', at + 1) - at - 8);
  }
  // A loadgen run on one host; adds what it counted to `truth`.
  static void load(const Host& h, int requests, Truth& truth, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--segment", h.segment, "--workers", "1", "--requests", std::to_string(requests),
                                     "--seed", std::to_string(requests + h.id[1])};
    args.insert(args.end(), extra.begin(), extra.end());
    const ToolResult r = run_tool(CANARY_LOADGEN_PATH, args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    truth.legacy += j["totals"]["legacy"]["requests"].get<std::uint64_t>();
    truth.canary += j["totals"]["canary"]["requests"].get<std::uint64_t>();
  }
  // The leader's merged totals for the fleet ("") or a region.
  Truth merged(const std::string& region = "") {
    const int l = leader();
    if (l < 0) return {};
    const json m = get_json(controllers[l]->port(), "/api/v2/admin/canary/metrics" + (region.empty() ? "" : "?region=" + region));
    if (!m.is_object() || !m.contains("legacy")) return {};
    return {m["legacy"]["requests"].get<std::uint64_t>(), m["canary"]["requests"].get<std::uint64_t>()};
  }
  json leader_status() {
    const int l = leader();
    return l < 0 ? json::object() : get_json(controllers[l]->port(), "/api/v2/admin/canary/status");
  }
  // rollback.scope: region, every host at 20% under paced load, the canary's error rate per host.
  void start_region_scoped_rollout(const std::function<const char*(const Host&)>& canary_error_rate) {
    set_policy("rollback:\n  scope: region\nramp:\n  steps: [20, 50, 100]\n  bake: 1h\n");
    start_hosts();
    start_controller(0);
    ASSERT_TRUE(wait_until([&] { return leader() >= 0; }, 10s));
    ASSERT_EQ(ctl({"start", "--share", "20"}).exit_code, 0);
    ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 20 && share_of(hosts[3]) == 20; }, 5s));
    for (const Host& h : hosts)
      loads.push_back(start_load({"--segment", h.segment, "--workers", "1", "--requests", "2000000", "--rate", "2000",
                                  "--legacy-error-rate", "0.001", "--canary-error-rate", canary_error_rate(h)}));
  }
};

bool same(const Truth& a, const Truth& b) { return a.legacy == b.legacy && a.canary == b.canary; }
std::string text(const Truth& t) { return std::to_string(t.legacy) + " legacy, " + std::to_string(t.canary) + " canary"; }

TEST_F(Fleet, CountsExactlyOnceThroughLeaderMemberAndHostLoss) {
  start_hosts();
  start_controller(0);
  start_controller(1);
  ASSERT_TRUE(wait_until([&] { return leader() >= 0; }, 10s));
  ASSERT_EQ(ctl({"start", "--share", "5"}).exit_code, 0);

  // Real-time traffic adjustment: one command, every host of region A (and no other) within a second.
  const auto asked = std::chrono::steady_clock::now();
  const ToolResult set = ctl({"set-percentage", "20", "--region", "A"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 20 && share_of(hosts[1]) == 20; }, 5s));
  const auto reached_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked).count();
  EXPECT_LT(reached_ms, 1000) << "set-percentage --region A took " << reached_ms << " ms to reach A's hosts";
  EXPECT_EQ(share_of(hosts[2]), 5);
  EXPECT_EQ(share_of(hosts[3]), 5);
  // Local changes are refused on a fleet's host, naming the fleet command.
  const ToolResult local = run_tool(CANARY_CTL_PATH, {"--segment", hosts[0].segment, "set-percentage", "50"});
  EXPECT_NE(local.exit_code, 0);
  EXPECT_NE(local.err.find("--etcd"), std::string::npos) << local.err;

  Truth all, region_a;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    Truth t;
    load(hosts[i], 20000 + 5000 * static_cast<int>(i), t);
    all.legacy += t.legacy, all.canary += t.canary;
    if (hosts[i].region == "A") region_a.legacy += t.legacy, region_a.canary += t.canary;
  }
  ASSERT_TRUE(wait_until([&] { return same(merged(), all); }, 10s)) << "merged " << text(merged()) << ", served " << text(all);
  EXPECT_TRUE(same(merged("A"), region_a)) << "region A merged " << text(merged("A")) << ", served " << text(region_a);

  // The leader dies mid-flight: the standby leads within lease TTL + one interval, from the state in etcd.
  const int first = leader();
  const auto killed = std::chrono::steady_clock::now();
  controllers[first]->kill_hard();
  controllers[first].reset();
  ASSERT_TRUE(wait_until([&] { return leader() == 1 - first; }, 15s));
  const double takeover_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(takeover_s, 3.0 + 0.5 + 2.0) << "takeover took " << takeover_s << " s (lease 3 s, interval 0.5 s)";
  for (const Host& h : hosts) load(h, 7000, all);
  ASSERT_TRUE(wait_until([&] { return same(merged(), all); }, 10s)) << "merged " << text(merged()) << ", served " << text(all);

  // One etcd member of three dies: nothing stops.
  etcd->kill(0);
  const ToolResult with_two = ctl({"set-percentage", "30", "--region", "B"});
  ASSERT_EQ(with_two.exit_code, 0) << with_two.err;
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[2]) == 30 && share_of(hosts[3]) == 30; }, 5s));
  EXPECT_EQ(share_of(hosts[0]), 20);

  // A host that cannot answer (stopped): the leader marks its data missing and says so in the
  // scopes' decisions, never guesses; once it answers, its counts arrive whole.
  const int l0 = leader();
  ASSERT_GE(l0, 0);
  kill(hosts[2].aggregator->pid(), SIGSTOP);
  bool marked_missing = false;
  wait_until([&] {
    const json st = get_json(controllers[l0]->port(), "/api/v2/admin/canary/status");
    for (const json& scope : st.value("scopes", json::array()))
      for (const json& h : scope.value("missing_hosts", json::array())) marked_missing = marked_missing || h == "b1";
    return marked_missing;
  }, 3s);
  kill(hosts[2].aggregator->pid(), SIGCONT);
  EXPECT_TRUE(marked_missing) << "b1 was never marked missing";
  load(hosts[2], 2000, all);
  ASSERT_TRUE(wait_until([&] { return same(merged(), all); }, 15s)) << "merged " << text(merged()) << ", served " << text(all);

  // A host dies: it leaves the fleet view; what was pulled from it stays counted, once.
  load(hosts[1], 3000, all);
  ASSERT_TRUE(wait_until([&] { return same(merged(), all); }, 10s)) << "merged " << text(merged()) << ", served " << text(all);
  hosts[1].aggregator->kill_hard();
  const int l = leader();
  ASSERT_GE(l, 0);
  ASSERT_TRUE(wait_until([&] { const json f = get_json(controllers[l]->port(), "/api/v2/admin/canary/fleet");
    return f.contains("hosts") && f["hosts"].size() == 3; }, 10s));
  EXPECT_TRUE(same(merged(), all)) << "merged " << text(merged()) << ", served " << text(all);
}

TEST_F(Fleet, ABadCanaryInOneRegionIsRolledBackOnEveryHostSoonerThanAnyHostAlone) {
  set_policy("rollback:\n  scope: fleet\nramp:\n  steps: [20, 50, 100]\n  bake: 1h\n");
  start_hosts();
  start_controller(0);
  start_controller(1);
  ASSERT_TRUE(wait_until([&] { return leader() >= 0; }, 10s));
  ASSERT_EQ(ctl({"start", "--share", "20"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 20 && share_of(hosts[3]) == 20; }, 5s));

  // Region A's canary fails 5.5% of its requests; B's is healthy. Paced, so the decision comes mid-load.
  for (const Host& h : hosts) {
    const bool bad = h.region == "A";
    loads.push_back(start_load({"--segment", h.segment, "--workers", "1", "--requests", "200000", "--rate", "2000",
                                "--legacy-error-rate", "0.001", "--canary-error-rate", bad ? "0.055" : "0.001"}));
  }
  // Every host's own aggregator judges the same traffic (for its status page): when one proves the
  // regression, the canary requests it needed are its trigger's sample count.
  std::map<std::string, std::uint64_t> host_needed;
  std::uint64_t fleet_needed_per_host = 0;  // the canary requests behind the fleet's proof, per host
  std::string rolled;
  const bool rolled_back = wait_until([&] {
    for (const Host& h : hosts) {
      if (host_needed.count(h.id)) continue;
      const json s = get_json(h.aggregator->port(), "/api/v2/admin/canary/status");
      if (!s.contains("decision") || !s["decision"].value("rollback_proven", false)) continue;
      for (const json& t : s["decision"]["triggers"])
        if (t.value("holds", false)) host_needed[h.id] = std::max(host_needed[h.id], t.value("canary_samples", std::uint64_t{0}));
    }
    const json st = leader_status();
    // The fleet's evidence when it first proved the regression (in region A, or fleet-wide): its
    // trigger's sample count, per host of the scope that proved it.
    if (fleet_needed_per_host == 0 && st.contains("scopes"))
      for (const json& sc : st["scopes"]) {
        if (!sc.value("rollback", false) || !sc.contains("hosts") || sc["hosts"].empty()) continue;
        for (const json& t : sc["triggers"])
          if (t.value("holds", false))
            fleet_needed_per_host = std::max(fleet_needed_per_host, t.value("canary_samples", std::uint64_t{0}) / sc["hosts"].size());
      }
    rolled = st.contains("config") ? st["config"].value("state", std::string()) : "";
    return rolled == "rolled_back";
  }, 90s);
  const auto decided = std::chrono::steady_clock::now();
  const json status = leader_status();
  ASSERT_TRUE(rolled_back) << status.dump(2);
  // Every host of the scope (the fleet) within two intervals of the decision.
  EXPECT_TRUE(wait_until([&] {
    for (const Host& h : hosts)
      if (share_of(h) != 0) return false;
    return true;
  }, 1000ms)) << "not every host was at 0% one second after the rollback";
  const double applied_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - decided).count();
  for (pid_t p : loads) stop_load(p);
  loads.clear();
  // The leader may have proved it between two looks of this loop: then its status at the rollback
  // is the evidence (counted a little after the proof, which only makes the comparison harder).
  if (fleet_needed_per_host == 0)
    for (const json& sc : status["scopes"])
      if (sc["scope"] == "A") fleet_needed_per_host = sc["versions"]["canary"]["step"]["requests"].get<std::uint64_t>() / 2;
  std::cout << "fleet rollback: " << status["config"]["reason"].get<std::string>() << "; " << fleet_needed_per_host
            << " canary requests per host behind the proof; every host at 0% after " << applied_s << " s\n";
  // Counts, not clocks: a host that proved it on its own needed more canary requests than the
  // fleet needed per host (a loaded machine may make the fleet's decision come later in time). The
  // counts are the judges' own sample sizes at their proofs, not totals read afterwards: under a
  // sanitizer the hosts keep serving for a while between the proof and this read.
  for (const auto& [host, needed] : host_needed) {
    std::cout << "host " << host << " proved it alone with " << needed << " canary requests\n";
    EXPECT_LT(fleet_needed_per_host, needed) << "host " << host << " needed fewer canary requests than the fleet per host";
  }
  EXPECT_EQ(status["config"]["reason"].get<std::string>().find("region B"), std::string::npos) << status["config"].dump();
}

TEST_F(Fleet, RegionScopeRollsBackOnlyTheRegionWhoseOwnDataProvedIt) {
  // Region A's canary fails 5.5% of its requests, B's is healthy: A is rolled back, B runs on.
  start_region_scoped_rollout([](const Host& h) { return h.region == "A" ? "0.055" : "0.001"; });
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 0 && share_of(hosts[1]) == 0; }, 60s)) << leader_status().dump(2);
  std::this_thread::sleep_for(3s);  // several more rounds: the fleet's pooled proof holds by now
  const json status = leader_status();
  for (pid_t p : loads) stop_load(p);
  loads.clear();
  EXPECT_EQ(share_of(hosts[2]), 20) << status.dump(2);
  EXPECT_EQ(share_of(hosts[3]), 20);
  EXPECT_EQ(status["config"]["state"], "running") << status["config"].dump(2);
  EXPECT_EQ(status["config"]["regions_rolled_back"], json::array({"A"})) << status["config"].dump(2);
}

TEST_F(Fleet, RegionScopeNeverRollsBackTheFleetOnItsPooledProofAlone) {
  // Both regions' canaries fail 2% of their requests: the fleet's pooled data (twice a region's)
  // proves it first. With rollback.scope: region each region goes back on its own proof; the
  // deployment as a whole is never rolled back.
  start_region_scoped_rollout([](const Host&) { return "0.02"; });
  std::string state;
  const bool both = wait_until([&] {
    const json st = leader_status();
    if (!st.contains("config")) return false;
    if (st["config"].value("state", std::string()) == "rolled_back") state = "rolled_back";
    return state == "rolled_back" || st["config"]["regions_rolled_back"].size() == 2;
  }, 90s);
  const json status = leader_status();
  for (pid_t p : loads) stop_load(p);
  loads.clear();
  EXPECT_NE(state, "rolled_back") << "the fleet was rolled back as a whole: " << status["config"].dump(2);
  EXPECT_TRUE(both) << status.dump(2);
}

TEST_F(Fleet, AHealthyCanaryRampsWaveByWaveThroughALeaderKillToApproval) {
  set_policy(
      "regions:\n  - wave: [A]\n  - wave: [B]\n"
      "ramp:\n  steps: [10, 50, 100]\n  bake: 1s\n  require_approval: true\n"
      "gate:\n  min_canary_requests: 300\n");
  start_hosts();
  start_controller(0);
  start_controller(1);
  ASSERT_TRUE(wait_until([&] { return leader() >= 0; }, 10s));
  ASSERT_EQ(ctl({"start"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 10; }, 5s));
  EXPECT_EQ(share_of(hosts[2]), 0) << "region B is in the second wave";

  for (const Host& h : hosts)
    loads.push_back(start_load({"--segment", h.segment, "--workers", "1", "--requests", "2000000", "--rate", "3000",
                                "--legacy-error-rate", "0", "--canary-error-rate", "0", "--legacy-latency-ms", "100:0.3",
                                "--canary-latency-ms", "80:0.3"}));
  // Mid-ramp, at wave A's 50% step, the leader dies.
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 50; }, 60s)) << leader_status().dump(2);
  const int first = leader();
  ASSERT_GE(first, 0);
  controllers[first]->kill_hard();
  ASSERT_TRUE(wait_until([&] { return leader() == 1 - first; }, 15s));
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[2]) > 0; }, 90s)) << leader_status().dump(2);
  EXPECT_EQ(share_of(hosts[0]), 100) << "wave A holds at 100% before wave B starts";
  ASSERT_TRUE(wait_until([&] { const json st = leader_status();
    return st.contains("config") && st["config"].value("awaiting_approval", false); }, 90s))
      << leader_status().dump(2);
  EXPECT_EQ(share_of(hosts[3]), 50) << "the last wave waits for approval below 100%";
  ASSERT_EQ(ctl({"approve"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] {
    for (const Host& h : hosts)
      if (share_of(h) != 100 || state_of(h) != "promoted") return false;
    return true;
  }, 5s));
  for (pid_t p : loads) stop_load(p);
  loads.clear();

  // Every version of the config, from etcd's history: the ramp's writes, in order, none twice.
  fleet::EtcdOptions o;
  o.endpoints = *fleet::parse_endpoints(etcd->endpoints());
  fleet::EtcdClient client(o);
  std::vector<std::string> steps;
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(1500ms);
    stop = true;
  });
  (void)client.watch("/canary/v1/" + deployment + "/config", 1, [&](std::int64_t, const std::vector<fleet::WatchEvent>& events) {
    for (const fleet::WatchEvent& e : events) {
      auto c = fleet::parse_fleet_config(e.kv.value);
      if (c && c->changed_by.rfind("canary-fleet", 0) == 0)
        steps.push_back(std::to_string(c->share_for("A")) + "/" + std::to_string(c->share_for("B")) +
                        (c->awaiting_approval ? " awaiting" : ""));
    }
  }, stop);
  stopper.join();
  const std::vector<std::string> expected = {"5000/0", "10000/0", "10000/1000", "10000/5000", "10000/5000 awaiting"};
  EXPECT_EQ(steps, expected);
}

TEST_F(Fleet, ALeaderTakingOverJustAfterAStartJudgesOnlyTheNewRollout) {
  // The checkpoint is written when a controller begins to lead and then every 60 s: the standby
  // that takes over below resumes from before the first rollout and pulls all of its intervals
  // again (hosts keep 5 minutes). They belong to the rolled-back rollout, not to the new step.
  set_policy("rollback:\n  scope: fleet\nramp:\n  steps: [10, 50, 100]\n  bake: 1s\ngate:\n  min_canary_requests: 300\n");
  start_hosts();
  start_controller(0, {"--checkpoint-s", "60"});
  ASSERT_TRUE(wait_until([&] { return leader() == 0; }, 10s));
  start_controller(1, {"--checkpoint-s", "60"});
  ASSERT_EQ(ctl({"start"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 10 && share_of(hosts[3]) == 10; }, 5s));
  auto run_load = [&](const char* canary_error_rate) {
    for (pid_t p : loads) stop_load(p);
    loads.clear();
    for (const Host& h : hosts)
      loads.push_back(start_load({"--segment", h.segment, "--workers", "1", "--requests", "2000000", "--rate", "2000",
                                  "--legacy-error-rate", "0.001", "--canary-error-rate", canary_error_rate}));
  };
  run_load("0.2");
  const auto state = [&] {
    const json st = leader_status();
    return st.contains("config") ? st["config"].value("state", std::string()) : std::string();
  };
  ASSERT_TRUE(wait_until([&] { return state() == "rolled_back"; }, 60s)) << leader_status().dump(2);

  // A healthy build, started again; the leader dies within a second of the start.
  run_load("0.001");
  std::this_thread::sleep_for(1s);  // the hosts' intervals now hold healthy data only
  ASSERT_EQ(ctl({"start"}).exit_code, 0);
  const int first = leader();
  ASSERT_GE(first, 0);
  controllers[first]->kill_hard();
  ASSERT_TRUE(wait_until([&] { return leader() == 1 - first; }, 15s));
  // The new leader ramps the healthy rollout; it never rolls it back.
  bool rolled_back = false;
  const bool ramped = wait_until([&] {
    rolled_back = rolled_back || state() == "rolled_back";
    return rolled_back || share_of(hosts[0]) == 50;
  }, 60s);
  const json status = leader_status();
  EXPECT_FALSE(rolled_back) << "the new rollout was judged on the old one's data: " << status.dump(2);
  EXPECT_TRUE(ramped) << status.dump(2);
  EXPECT_GT(status.value("intervals_left_out", 0u), 0u) << "the old rollout's intervals were left out of the step";
  for (pid_t p : loads) stop_load(p);
  loads.clear();
}

TEST_F(Fleet, HostsKeepTheirConfigWhileEtcdIsDownAndResyncAfter) {
  // Fail-static for 4 s, then (fleet.etcd_lost: legacy_after 4s) every user goes legacy.
  set_policy("fleet:\n  etcd_lost: legacy_after 4s\n");
  start_hosts();
  start_controller(0);
  ASSERT_TRUE(wait_until([&] { return leader() >= 0; }, 10s));
  ASSERT_EQ(ctl({"start", "--share", "15"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return share_of(hosts[0]) == 15 && share_of(hosts[3]) == 15; }, 5s));
  for (int i = 0; i < etcd->size(); ++i) etcd->kill(i);
  auto connected = [](const Host& h) {
    const ToolResult r = run_tool(CANARY_CTL_PATH, {"--segment", h.segment, "status"});
    return r.out.find("fleet_connected: 1") != std::string::npos;
  };
  auto enabled = [](const Host& h) {
    return run_tool(CANARY_CTL_PATH, {"--segment", h.segment, "status"}).out.find("enabled: true") != std::string::npos;
  };
  ASSERT_TRUE(wait_until([&] { return !connected(hosts[0]); }, 8s));
  // Fail-static: the last config still routes, and every surface says the host is cut off.
  for (const Host& h : hosts) {
    EXPECT_EQ(share_of(h), 15);
    EXPECT_TRUE(enabled(h)) << h.id << " gave up before the policy's 4 s";
  }
  std::this_thread::sleep_for(10s);
  for (const Host& h : hosts) EXPECT_FALSE(enabled(h)) << h.id << " still routes to the canary after 10 s without etcd";
  const ToolResult dump = run_tool(CANARY_DUMP_PATH, {"--segment", hosts[0].segment, "--json"});
  EXPECT_EQ(json::parse(dump.out)["fleet_connected"], 0) << dump.out.substr(0, 500);
  http::ClientRequest m;
  m.url = "http://127.0.0.1:" + std::to_string(hosts[0].aggregator->port()) + "/metrics";
  EXPECT_NE(http::fetch(m)->body.find("canary_fleet_connected 0"), std::string::npos);
  for (int i = 0; i < etcd->size(); ++i) etcd->start(i);
  ASSERT_TRUE(etcd->wait_ready());
  ASSERT_TRUE(wait_until([&] { return connected(hosts[0]) && connected(hosts[3]); }, 20s));
  EXPECT_TRUE(wait_until([&] { return enabled(hosts[0]) && enabled(hosts[3]); }, 5s)) << "the fleet config is not back";
  ASSERT_EQ(ctl({"set-percentage", "25"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] {
    for (const Host& h : hosts)
      if (share_of(h) != 25) return false;
    return true;
  }, 5s));
}

}  // namespace
}  // namespace canary::testing
