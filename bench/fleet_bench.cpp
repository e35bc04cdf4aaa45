// SPDX-License-Identifier: Apache-2.0
// What one interval costs the fleet leader for N hosts (7 endpoints x 2 versions each): every
// host's interval pulled over HTTP (loopback, in-process hosts), decoded (binary digests), merged,
// and every scope judged — the controller's work minus etcd. BM_FleetDecodeMerge is the same
// without HTTP, its baseline in the same run.
//
// The hosts answer from a child process (one HTTP server for all of them, 2 threads), so cpu_ms —
// getrusage of this process per interval — is the controller's own CPU time.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "canary/fleet/host_interval.hpp"
#include "canary/fleet/round.hpp"
#include "canary/http/server.hpp"

namespace canary::fleet {
namespace {

constexpr std::uint32_t kEndpoints = 7;
constexpr int kLatenciesPerVersion = 200;  // one second of a host serving 400 requests a second

// A host's interval, encoded once: cumulative counts for 7 endpoints x 2 versions and one
// second's latencies per version.
std::string host_interval(std::uint32_t host) {
  std::mt19937_64 rng(host);
  std::lognormal_distribution<double> latency(std::log(200000.0), 0.5);
  HostInterval h;
  h.segment_id = 1;
  h.id = {1, 1};
  h.fleet_generation = 1;  // the fleet config's (below): every interval counts in the step
  for (std::uint32_t v = 0; v < 2; ++v) {
    for (std::uint32_t e = 1; e <= kEndpoints; ++e) h.cells.push_back({v, e, {1000u * e, e, e, e, 200000u * e}});
    for (int i = 0; i < kLatenciesPerVersion; ++i) h.latency[v].add(static_cast<std::uint32_t>(latency(rng)));
  }
  return encode_interval(h);
}

struct Fleet {
  std::vector<std::string> bodies;  // per host: a batch of its one interval
  std::vector<HostRef> hosts;
  pid_t server = -1;  // the child that plays every host
  FleetConfig config;

  explicit Fleet(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::string one = host_interval(static_cast<std::uint32_t>(i));
      bodies.push_back(encode_batch({one}));
    }
    int port_pipe[2];
    if (pipe(port_pipe) != 0) return;
    server = fork();
    if (server == 0) {
      http::ServerOptions o;
      o.threads = 2;
      auto started = http::Server::listen(o, [this](const http::Request& r) {
        // /h/INDEX/api/v2/admin/canary/fleet/intervals
        const std::size_t index = std::stoul(r.path.substr(3, r.path.find('/', 3) - 3));
        return http::Response{200, "application/octet-stream", bodies[index % bodies.size()], {}};
      });
      const int port = started ? (*started)->port() : 0;
      (void)!write(port_pipe[1], &port, sizeof port);
      while (true) pause();
    }
    int port = 0;
    (void)!read(port_pipe[0], &port, sizeof port);
    close(port_pipe[0]);
    close(port_pipe[1]);
    for (std::size_t i = 0; i < n; ++i)
      hosts.push_back({"h" + std::to_string(i), i % 2 ? "eu" : "us",
                       "http://127.0.0.1:" + std::to_string(port) + "/h/" + std::to_string(i), 0});
    config.generation = 1;
    config.share_bp = 1000;
  }
  ~Fleet() {
    if (server > 0) {
      kill(server, SIGKILL);
      waitpid(server, nullptr, 0);
    }
  }
};

// Every host's interval new again, and the next one after the last read: merged into the steps.
void rewind(MergeState& merged, const std::vector<HostRef>& hosts) {
  for (const HostRef& h : hosts) {
    HostCursor& c = merged.hosts[h.id];
    c = HostCursor{};
    c.segment_id = 1;
    c.last = {1, 0};
  }
}

double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void BM_FleetInterval(benchmark::State& state) {
  Fleet fleet(static_cast<std::size_t>(state.range(0)));
  const Policy policy;
  PullOptions pulling;
  pulling.timeout = std::chrono::milliseconds(10000);
  MergeState merged;
  const double cpu_before = process_cpu_s();
  for (auto _ : state) {
    rewind(merged, fleet.hosts);
    std::vector<PullResult> pulls = pull_hosts(fleet.hosts, merged, pulling);
    Round round = merge_and_judge(merged, fleet.config, policy, fleet.hosts, pulls, 1);
    benchmark::DoNotOptimize(round);
  }
  state.counters["cpu_ms"] = benchmark::Counter((process_cpu_s() - cpu_before) * 1000.0 / static_cast<double>(state.iterations()));
  state.counters["hosts"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_FleetInterval)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FleetDecodeMerge(benchmark::State& state) {
  Fleet fleet(static_cast<std::size_t>(state.range(0)));
  const Policy policy;
  MergeState merged;
  for (auto _ : state) {
    rewind(merged, fleet.hosts);
    std::vector<PullResult> pulls(fleet.bodies.size());
    for (std::size_t i = 0; i < pulls.size(); ++i) {
      pulls[i].intervals = std::move(*decode_batch(fleet.bodies[i]));
      pulls[i].ok = true;
    }
    Round round = merge_and_judge(merged, fleet.config, policy, fleet.hosts, pulls, 1);
    benchmark::DoNotOptimize(round);
  }
}
BENCHMARK(BM_FleetDecodeMerge)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace canary::fleet
