// SPDX-License-Identifier: Apache-2.0
// What experiments cost a worker (SPEC section 10a): a user's arm (one XXH3 of a 36-byte id with
// the experiment's salt, then the arms' ranges), and an exposure or outcome event (one ring slot).
// Their baselines in the same run: BM_RouteXxh3 (route_bench.cpp) hashes the same ids, and
// BM_RecordRequest (record_bench.cpp) writes a ring slot and two slab counters.
#include <benchmark/benchmark.h>

#include "bench_segment.hpp"
#include "canary/clock.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/writer.hpp"

namespace canary::bench {
namespace {

// The bench segment with a running experiment of three arms and two metrics, and this process
// attached to it; the experiment's slot.
ExperimentId bench_experiment() {
  static const ExperimentId id = [] {
    const Status s = update_config(bench_segment(), "canary-bench", [](ConfigData& c) {
      if (experiment::find_experiment(c, "bench")) return Status::Ok();
      experiment::ExperimentSpec spec;
      spec.name = "bench";
      spec.arms = *experiment::parse_arms("control:34,a:33,b:33");
      spec.metrics = {*experiment::parse_metric("clicks:conversion"), *experiment::parse_metric("revenue:sum")};
      auto created = experiment::create(c, spec, unix_now_ns());
      return created ? experiment::start(c, "bench", unix_now_ns(), {}) : created.status();
    });
    if (!s.ok() || !attach(bench_segment().name())) return ExperimentId{kMaxExperiments};
    return find_experiment("bench").value_or(ExperimentId{kMaxExperiments});
  }();
  return id;
}

void release_ring_space() {
  detail::ThreadWriter& t = detail::t_writer;
  if (t.ring != nullptr) t.ring->tail.store(t.head, std::memory_order_release);
}

void BM_ExperimentArm(benchmark::State& state) {
  const ExperimentId id = bench_experiment();
  if (id >= kMaxExperiments) return state.SkipWithError("cannot set up the experiment");
  const auto& ids = user_ids();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(arm(id, ids[i++ & 1023]));
}
BENCHMARK(BM_ExperimentArm);

void BM_RecordEvent(benchmark::State& state) {
  const ExperimentId id = bench_experiment();
  if (id >= kMaxExperiments) return state.SkipWithError("cannot set up the experiment");
  std::uint64_t i = 0;
  for (auto _ : state) {
    record_event(id, static_cast<std::uint8_t>(i % 3), i * 0x9E3779B97F4A7C15ull, static_cast<std::uint8_t>(i & 1), 1.0);
    if ((++i & 4095) == 0) release_ring_space();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RecordEvent)->Threads(1)->Threads(2);

void BM_Expose(benchmark::State& state) {
  const ExperimentId id = bench_experiment();
  if (id >= kMaxExperiments) return state.SkipWithError("cannot set up the experiment");
  std::uint64_t i = 0;
  for (auto _ : state) {
    expose(id, static_cast<std::uint8_t>(i % 3), i * 0x9E3779B97F4A7C15ull);
    if ((++i & 4095) == 0) release_ring_space();
  }
}
BENCHMARK(BM_Expose);

}  // namespace
}  // namespace canary::bench
