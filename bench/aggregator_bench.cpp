// SPDX-License-Identifier: Apache-2.0
// The aggregator's side: feeding a t-digest, and draining ring records into the window digests.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "bench_segment.hpp"
#include "canary/aggregator.hpp"
#include "canary/decision/sample_ratio.hpp"
#include "canary/latency_sketch.hpp"
#include "canary/tdigest.hpp"
#include "canary/writer.hpp"

namespace canary::bench {
namespace {

const std::vector<double>& lognormal_latencies_us() {
  static const std::vector<double> values = [] {
    std::mt19937_64 rng(11);
    std::lognormal_distribution<double> d(std::log(200'000.0), 0.5);
    std::vector<double> v(1 << 16);
    for (double& x : v) x = d(rng);
    return v;
  }();
  return values;
}

void BM_TDigestAdd(benchmark::State& state) {
  const auto& values = lognormal_latencies_us();
  TDigest digest;
  std::size_t i = 0;
  for (auto _ : state) digest.add(values[i++ & 0xffff]);
  benchmark::DoNotOptimize(digest.quantile(0.99));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_TDigestAdd);

// What the sketch beside each digest adds to a drained record: one bin counted.
void BM_LatencySketchAdd(benchmark::State& state) {
  const auto& values = lognormal_latencies_us();
  LatencySketch sketch;
  std::size_t i = 0;
  for (auto _ : state) sketch.add(static_cast<std::uint64_t>(values[i++ & 0xffff]));
  benchmark::DoNotOptimize(sketch.count());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_LatencySketchAdd);

// What the sample-ratio test adds to a drained record: a Bloom filter look-up of its user, overall
// and on its endpoint. Every user new (the worst case: every look-up writes) or one of 10,000
// returning users (their lines stay in cache), against a plain pass over the same records.
void BM_SampleRatioAdd(benchmark::State& state) {
  const bool all_new = state.range(0) != 0;
  SampleRatioCheck check;
  std::uint64_t n = 0;
  for (auto _ : state) {
    const std::uint64_t user = all_new ? n * 0x9E3779B97F4A7C15ull + 1 : (n % 10000) * 0x9E3779B97F4A7C15ull + 1;
    check.add(user, n % 20 == 0 ? 1 : 0, static_cast<std::uint32_t>(1 + n % 7));
    ++n;
  }
  benchmark::DoNotOptimize(check.status());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_SampleRatioAdd)->Arg(1)->Arg(0);

// Records from the rings through the window digests, on one core: each iteration fills this
// thread's ring (untimed) and drains it (timed).
void BM_AggregatorDrain(benchmark::State& state) {
  Segment& segment = bench_segment();
  if (!attach(segment.name())) return state.SkipWithError("cannot attach");
  auto aggregator = Aggregator::start(segment, {});
  if (!aggregator) return state.SkipWithError(aggregator.status().message().c_str());
  const auto& values = lognormal_latencies_us();
  const std::uint32_t batch = segment.geometry().params.ring_records;
  std::uint64_t drained = 0, n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (std::uint32_t i = 0; i < batch; ++i, ++n)
      record(static_cast<EndpointId>(1 + n % 7), Method::post, n, n % 20 == 0 ? Version::canary : Version::legacy, 200,
             static_cast<std::uint64_t>(values[n & 0xffff]));
    state.ResumeTiming();
    drained += (*aggregator)->drain();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(drained));
  state.counters["records_per_drain"] = static_cast<double>(drained) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_AggregatorDrain)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace canary::bench
