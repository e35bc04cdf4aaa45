// SPDX-License-Identifier: Apache-2.0
// What recording a request costs a worker (slabs + histogram + ring; the user hash is given),
// against what a naive port of the seed's collector and one shared set of atomic counters cost,
// each with 1 and 2 threads.
#include <benchmark/benchmark.h>

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_segment.hpp"
#include "canary/histogram.hpp"
#include "canary/writer.hpp"

namespace canary::bench {
namespace {

constexpr std::uint32_t kEndpoints = 8;

bool attach_bench_segment() {
  static const bool ok = attach(bench_segment().name());
  return ok;
}

// Stands in for the aggregator, outside the timed work in all but name: every 4096 records the
// thread frees its own ring, so the benchmark measures the push and not the full-ring drop.
inline void release_ring_space() {
  detail::ThreadWriter& t = detail::t_writer;
  if (t.ring != nullptr) t.ring->tail.store(t.head, std::memory_order_release);
}

void BM_RecordRequest(benchmark::State& state) {
  if (!attach_bench_segment()) {
    state.SkipWithError("cannot attach");
    return;
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    record(static_cast<EndpointId>(1 + (i & 7)), Method::post, i * 0x9E3779B97F4A7C15ull,
           (i & 31) == 0 ? Version::canary : Version::legacy, (i & 255) == 0 ? 503 : 200, 1000 + (i & 1023));
    if ((++i & 4095) == 0) release_ring_space();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["rseq"] = writer_stats().rseq ? 1 : 0;
}
BENCHMARK(BM_RecordRequest)->Threads(1)->Threads(2);

// The same records, each marked in flight first: begin() before the request, and the record()
// that takes the mark off (what ScopedRequest does). The difference to BM_RecordRequest in the
// same run is what counting crashed requests costs.
void BM_BeginAndRecordRequest(benchmark::State& state) {
  if (!attach_bench_segment()) {
    state.SkipWithError("cannot attach");
    return;
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    const Decision d{(i & 31) == 0 ? Version::canary : Version::legacy, static_cast<EndpointId>(1 + (i & 7)),
                     i * 0x9E3779B97F4A7C15ull};
    InFlight request = begin(d);
    record(request, Method::post, (i & 255) == 0 ? 503 : 200, 1000 + (i & 1023));
    if ((++i & 4095) == 0) release_ring_space();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_BeginAndRecordRequest)->Threads(1)->Threads(2);

// A naive port of the seed's collector (record_request in canary_metrics.py): one mutex, metrics
// per version and per endpoint in hash maps keyed by their names, every response time appended to
// a list for the percentiles. The lists are cleared every 2^20 samples so a long run stays small.
struct SeedPortCollector {
  struct Metrics {
    std::uint64_t request_count = 0, error_count = 0;
    std::vector<double> response_times;
    void add(int status, double ms) {
      ++request_count;
      error_count += status >= 500;
      if (response_times.size() == (1u << 20)) response_times.clear();
      response_times.push_back(ms);
    }
  };
  std::mutex mutex;
  std::unordered_map<std::string, Metrics> by_version;
  std::unordered_map<std::string, std::unordered_map<std::string, Metrics>> by_endpoint;

  void record_request(std::string_view endpoint, std::string_view version, int status, double ms) {
    std::lock_guard lock(mutex);
    by_version[std::string(version)].add(status, ms);
    by_endpoint[std::string(endpoint)][std::string(version)].add(status, ms);
  }
};

const std::string_view kSeedEndpoints[8] = {
    "/api/v2/recommend/personalized",         "/api/v2/recommend/compare",
    "/api/v2/conversations/start",            "/api/v2/conversations/{session_id}/turn",
    "/api/v2/conversations/{session_id}",     "/api/v2/conversations/{session_id}/close",
    "/api/v2/conversations",                  "/api/v2/recommend/personalized",
};

void BM_BaselineMutexMap(benchmark::State& state) {
  static SeedPortCollector collector;
  std::uint64_t i = 0;
  for (auto _ : state) {
    collector.record_request(kSeedEndpoints[i & 7], (i & 31) == 0 ? "canary" : "legacy", (i & 255) == 0 ? 503 : 200,
                             static_cast<double>(1000 + (i & 1023)) / 1000.0);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_BaselineMutexMap)->Threads(1)->Threads(2);

// For reference, a leaner mutex collector than the seed's: one map keyed by a prebuilt integer,
// counts and a coarse histogram, no lists.
struct IntKeyCollector {
  struct Stats {
    std::uint64_t count = 0, errors = 0, latency_sum_us = 0;
    std::uint64_t histogram[64] = {};
  };
  std::mutex mutex;
  std::unordered_map<std::uint64_t, Stats> stats;

  void record(EndpointId endpoint, Version version, std::uint32_t status, std::uint64_t latency_us) {
    const std::uint64_t key = std::uint64_t{endpoint} << 16 | static_cast<std::uint64_t>(version) << 4 | status / 100;
    std::lock_guard lock(mutex);
    Stats& s = stats[key];
    ++s.count;
    s.errors += status >= 500;
    s.latency_sum_us += latency_us;
    ++s.histogram[63 - __builtin_clzll(latency_us | 1)];
  }
};

void BM_BaselineMutexMapIntKey(benchmark::State& state) {
  static IntKeyCollector collector;
  std::uint64_t i = 0;
  for (auto _ : state) {
    collector.record(static_cast<EndpointId>(1 + (i & 7)), (i & 31) == 0 ? Version::canary : Version::legacy,
                     (i & 255) == 0 ? 503 : 200, 1000 + (i & 1023));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_BaselineMutexMapIntKey)->Threads(1)->Threads(2);

// The same counts as BM_RecordRequest, in one shared set of atomic counters (no per-CPU slabs,
// no ring): what sharing costs once two cores write.
struct SharedCounters {
  static constexpr std::uint32_t kVersions = 2;  // legacy and canary, as the benchmark records
  std::atomic<std::uint64_t> requests[kVersions][kEndpoints][kMethodCount][kStatusClassCount] = {};
  std::atomic<std::uint64_t> latency_sum_us[kVersions][kEndpoints] = {};
  std::atomic<std::uint64_t> histogram[kVersions][kEndpoints][kHistogramBuckets] = {};
};

void BM_BaselineSharedAtomic(benchmark::State& state) {
  static SharedCounters shared;
  std::uint64_t i = 0;
  for (auto _ : state) {
    const std::uint32_t v = (i & 31) == 0 ? 1 : 0, e = static_cast<std::uint32_t>(i & 7);
    const std::uint64_t latency = 1000 + (i & 1023);
    const auto c = static_cast<std::uint32_t>(classify_status((i & 255) == 0 ? 503 : 200));
    shared.requests[v][e][1][c].fetch_add(1, std::memory_order_relaxed);
    shared.latency_sum_us[v][e].fetch_add(latency, std::memory_order_relaxed);
    shared.histogram[v][e][histogram_bucket(latency)].fetch_add(1, std::memory_order_relaxed);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_BaselineSharedAtomic)->Threads(1)->Threads(2);

}  // namespace
}  // namespace canary::bench
