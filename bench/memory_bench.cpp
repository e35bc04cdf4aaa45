// SPDX-License-Identifier: Apache-2.0
// What the aggregator's parts cost on the heap (mallinfo2 before and after, not serialized sizes):
// the sizing table of docs/aggregator.md comes from these counters.
//
//  - BM_WindowSeriesDayHeap/RATE: one (version, endpoint) series fed 25 hours at RATE requests a
//    second of the seed's latency shape (lognormal, median 225 ms, sigma 0.42: mean 250 ms, P95
//    450 ms, P99 600 ms as in the seed's example), advanced once a second as the aggregator does;
//    `heap_bytes` is what it holds at the end, `estimate_bytes` what --memory-limit counts.
//  - BM_ExperimentUserHeap/METRICS: 458,753 users of one running experiment (just past a doubling of
//    the table: the worst point) and 458,752 (just before it: the best), bytes per user.
//  - BM_HttpConnectionHeap: 2,000 keep-alive connections of the admin API's server, idle after one
//    request, and 2,000 more each 1 KiB into a head: bytes per connection.
// The wall time of these is not the point; each runs once.
#include <benchmark/benchmark.h>

#include <bit>
#include <cmath>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "canary/http/server.hpp"
#include "canary/window_series.hpp"
#include "memory_probes.hpp"
#include "raw_http.hpp"

namespace canary::bench {
namespace {

void BM_WindowSeriesDayHeap(benchmark::State& state) {
  const auto per_second = static_cast<std::uint32_t>(state.range(0));
  constexpr std::uint64_t kStart = 1'000'000'000, kDay = 25ull * 3600 * 1000;
  for (auto _ : state) {
    const std::size_t before = test::heap_in_use();
    auto series = std::make_unique<WindowSeries>(kStart, WindowCounts{});
    test::SeedTraffic traffic;
    traffic.run(*series, kStart, kStart + kDay, per_second);
    state.counters["heap_bytes"] = static_cast<double>(test::heap_in_use() - before);
    state.counters["estimate_bytes"] = static_cast<double>(series->heap_bytes());
    for (std::uint32_t level = 1; level < WindowSeries::kLevels; ++level)
      while (series->coarsen(level)) {
      }
    state.counters["coarsened_heap_bytes"] = static_cast<double>(test::heap_in_use() - before);
  }
}
BENCHMARK(BM_WindowSeriesDayHeap)->Arg(1)->Arg(10)->Arg(100)->Arg(400)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_ExperimentUserHeap(benchmark::State& state) {
  const auto metrics = static_cast<std::uint32_t>(state.range(0));
  for (auto _ : state) {
    state.counters["bytes_per_user_worst"] = test::ExperimentUsers::measure(metrics, 458'753).measured_per_user;
    state.counters["bytes_per_user_best"] = test::ExperimentUsers::measure(metrics, 458'752).measured_per_user;
  }
}
BENCHMARK(BM_ExperimentUserHeap)->Arg(1)->Arg(4)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_HttpConnectionHeap(benchmark::State& state) {
  constexpr int kConnections = 2000;
  for (auto _ : state) {
    http::ServerOptions options;
    auto server = http::Server::listen(options, [](const http::Request&) { return http::Response{200, "text/plain", "ok\n", {}}; });
    if (!server) {
      state.SkipWithError("cannot listen");
      return;
    }
    const int port = (*server)->port();
    std::vector<int> idle, heads;
    const std::size_t before = test::heap_in_use();
    for (int i = 0; i < kConnections; ++i) {
      idle.push_back(testing::connect_local(port));
      testing::send_text(idle.back(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for (int fd : idle) testing::read_response(fd, std::chrono::seconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::size_t with_idle = test::heap_in_use();
    for (int i = 0; i < kConnections; ++i) {
      heads.push_back(testing::connect_local(port));
      testing::send_text(heads.back(), "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: " + std::string(1000, 'p'));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::size_t with_heads = test::heap_in_use();
    state.counters["bytes_per_idle_connection"] = static_cast<double>(with_idle - before) / kConnections;
    state.counters["bytes_per_unfinished_1k_head"] = static_cast<double>(with_heads - with_idle) / kConnections;
    state.counters["estimate_bytes_per_connection"] = static_cast<double>((*server)->heap_bytes()) / (2 * kConnections);
    for (int fd : idle) close(fd);
    for (int fd : heads) close(fd);
    (*server)->stop();
  }
}
BENCHMARK(BM_HttpConnectionHeap)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace canary::bench
