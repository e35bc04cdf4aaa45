// SPDX-License-Identifier: Apache-2.0
// Measurements of the aggregator's memory on the heap, shared by tests/memory_bound_test.cpp (the
// bounds) and bench/memory_bench.cpp (the figures of docs/aggregator.md's sizing table):
//
//  - heap_in_use(): what the process holds from malloc now, by glibc's own count (mallinfo2: the
//    bytes in use in the arenas and in chunks mapped on their own). A sanitizer's allocator does
//    not answer (0): the users run in release builds.
//  - SeedTraffic: the seed's example latencies (mean 250 ms, P95 450 ms, P99 600 ms: a lognormal of
//    median 225 ms and sigma 0.42), fed into a window series a second at a time as the aggregator
//    advances it.
//  - ExperimentUsers: a running experiment's tracker holding N users, and what they cost.
#pragma once

#include <malloc.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <memory>
#include <random>

#include "canary/config_edit.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/experiment/tracker.hpp"
#include "canary/window_series.hpp"

namespace canary::test {

inline std::size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

struct SeedTraffic {
  std::mt19937_64 rng{42};
  std::lognormal_distribution<double> latency{std::log(225'000.0), 0.42};
  WindowCounts totals;

  // `per_second` samples each second from `from_ms` to `to_ms`, advancing after each second.
  void run(WindowSeries& s, std::uint64_t from_ms, std::uint64_t to_ms, std::uint32_t per_second) {
    for (std::uint64_t t = from_ms; t < to_ms; t += 1000) {
      for (std::uint32_t i = 0; i < per_second; ++i) {
        const auto us = static_cast<std::uint32_t>(latency(rng));
        s.add(us);
        ++totals.requests;
        totals.latency_sum_us += us;
      }
      s.advance(t + 1000, totals);
    }
  }
};

// `users` users of a running experiment with `metrics` metrics (0: exposures only), each with one
// record, in a tracker of their own: its heap cost per user, measured and as the tracker estimates it.
struct ExperimentUsers {
  double measured_per_user = 0;
  double estimated_per_user = 0;
  std::uint64_t tracked = 0;

  static ExperimentUsers measure(std::uint32_t metrics, std::uint64_t users) {
    auto config = std::make_unique<ConfigData>(*make_initial_config({}, 16));
    experiment::ExperimentSpec spec;
    spec.name = "reco";
    spec.arms = *experiment::parse_arms("control:50,treatment:50");
    const char* names[] = {"a:sum", "b:sum", "c:count", "d:conversion"};
    for (std::uint32_t m = 0; m < metrics && m < 4; ++m) spec.metrics.push_back(*experiment::parse_metric(names[m]));
    ExperimentUsers out;
    if (!experiment::create(*config, spec, 1) || !experiment::start(*config, "reco", 2, {}).ok()) return out;
    const std::size_t before = heap_in_use();
    auto tracker = std::make_unique<experiment::Tracker>(users);
    tracker->sync(*config);
    std::mt19937_64 rng(7);
    for (std::uint64_t u = 0; u < users; ++u) {
      RingRecord r{};
      r.kind = metrics == 0 ? kRecordExposure : kRecordEvent;
      r.user_hash = rng();
      r.method = static_cast<std::uint8_t>(u % 2);
      r.coarse_ms = std::bit_cast<std::uint64_t>(1.0);
      tracker->add(r);
    }
    out.tracked = tracker->users();
    out.measured_per_user = static_cast<double>(heap_in_use() - before) / static_cast<double>(users);
    out.estimated_per_user = static_cast<double>(tracker->heap_bytes()) / static_cast<double>(users);
    return out;
  }
};

}  // namespace canary::test
