// SPDX-License-Identifier: Apache-2.0
// What the C ABI adds: route a path and record the request through libcanary.so (canary/canary.h),
// against the same two calls through the C++ header, in the same run. The difference is the
// call into the shared object and its thread-local lookup (the C++ calls inline).
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "bench_segment.hpp"
#include "canary/canary.h"
#include "canary/ring.hpp"
#include "canary/writer.hpp"

namespace canary::bench {
namespace {

// As in record_bench.cpp: every 4096 records the thread's ring is freed, so that both measure the
// push and not the full-ring drop. The C side's writer is libcanary.so's own: its ring is found by
// the index canary_writer_stats() gives.
void release_cxx_ring() {
  detail::ThreadWriter& t = detail::t_writer;
  if (t.ring != nullptr) t.ring->tail.store(t.head, std::memory_order_release);
}

void release_c_ring() {
  canary_stats stats;
  stats.size = sizeof stats;
  if (canary_writer_stats(&stats) != CANARY_OK || stats.ring < 0) return;
  RingControl& ring = RingsView::of(bench_segment()).control(static_cast<std::uint32_t>(stats.ring));
  ring.tail.store(ring.head.load(std::memory_order_acquire), std::memory_order_release);
}

void BM_CxxRouteRecord(benchmark::State& state) {
  if (!attach(bench_segment().name())) {
    state.SkipWithError("cannot attach");
    return;
  }
  const auto& ids = user_ids();
  const auto& paths = seed_paths();
  std::uint64_t i = 0;
  for (auto _ : state) {
    const Decision d = route(ids[i & 1023], std::string_view(paths[i % 7]));
    record(d.endpoint, Method::get, d.user_hash, d.version, (i & 255) == 0 ? 503 : 200, 1000 + (i & 1023));
    if ((++i & 4095) == 0) release_cxx_ring();
  }
}
BENCHMARK(BM_CxxRouteRecord);

void BM_CRouteRecord(benchmark::State& state) {
  if (canary_attach(bench_segment().name().c_str()) != CANARY_OK) {
    state.SkipWithError("cannot attach");
    return;
  }
  const auto& ids = user_ids();
  const auto& paths = seed_paths();
  std::uint64_t i = 0;
  canary_decision d;
  for (auto _ : state) {
    const std::string& id = ids[i & 1023];
    const std::string& path = paths[i % 7];
    canary_route(id.data(), id.size(), path.data(), path.size(), &d);
    canary_record(&d, CANARY_METHOD_GET, (i & 255) == 0 ? 503 : 200, 1000 + (i & 1023));
    if ((++i & 4095) == 0) release_c_ring();
  }
  canary_stats stats;
  stats.size = sizeof stats;
  canary_writer_stats(&stats);
  state.counters["ring_full_drops"] = static_cast<double>(stats.ring_full_drops);
}
BENCHMARK(BM_CRouteRecord);

}  // namespace
}  // namespace canary::bench
