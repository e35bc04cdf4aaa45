// SPDX-License-Identifier: Apache-2.0
// The aggregator's memory, measured on the heap (not by serialized size): a day of one window
// series at the seed's traffic shape stays under the documented bound, the estimate that
// --memory-limit acts on tracks what malloc holds, and coarsening the long windows gives memory
// back without changing a count or moving a quantile out of its bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "canary/window_series.hpp"
#include "heap_bytes.hpp"

namespace canary {
namespace {

constexpr std::uint64_t kSecond = 1000;
constexpr std::uint64_t kHour = 3600 * kSecond;
constexpr std::uint64_t kStart = 1'000'000'000;
constexpr double kBoundBytes = 5.0 * 1024 * 1024;  // the bound per series, docs/aggregator.md

// The seed's example (docs: mean 250 ms, P95 450 ms, P99 600 ms) is a lognormal of median 225 ms
// and sigma 0.42; `per_second` of them a second, advanced once a second as the aggregator does.
struct SeedTraffic {
  std::mt19937_64 rng{42};
  std::lognormal_distribution<double> latency{std::log(225'000.0), 0.42};
  WindowCounts totals;
  void run(WindowSeries& s, std::uint64_t from_ms, std::uint64_t to_ms, std::uint32_t per_second) {
    for (std::uint64_t t = from_ms; t < to_ms; t += kSecond) {
      for (std::uint32_t i = 0; i < per_second; ++i) {
        const auto us = static_cast<std::uint32_t>(latency(rng));
        s.add(us);
        ++totals.requests;
        totals.latency_sum_us += us;
      }
      s.advance(t + kSecond, totals);
    }
  }
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kHeapMeasurable = false;
#else
constexpr bool kHeapMeasurable = true;
#endif

TEST(MemoryBound, ADayOfOneSeriesAtTheSeedsTrafficStaysUnderFiveMegabytesOfHeap) {
  if (!kHeapMeasurable) GTEST_SKIP() << "a sanitizer's allocator does not report its heap";
  const std::size_t before = test::heap_in_use();
  auto series = std::make_unique<WindowSeries>(kStart, WindowCounts{});
  SeedTraffic traffic;
  traffic.run(*series, kStart, kStart + 25 * kHour, 50);
  const std::size_t held = test::heap_in_use() - before;
  std::printf("a day of one series, 50 requests/s: %.2f MB on the heap, estimate %.2f MB\n", held / 1e6,
              series->heap_bytes() / 1e6);
  EXPECT_LT(static_cast<double>(held), kBoundBytes);
  // The estimate --memory-limit acts on is what malloc holds, to within a fifth (malloc's own
  // headers and rounding are not in it).
  EXPECT_NEAR(static_cast<double>(series->heap_bytes()), static_cast<double>(held), 0.2 * static_cast<double>(held));
}

TEST(MemoryBound, ClosedBucketsKeepNoSortBuffers) {
  if (!kHeapMeasurable) GTEST_SKIP() << "a sanitizer's allocator does not report its heap";
  // Six hours at a high rate: every closed bucket once had full sort buffers. What stays is the
  // compressed digests and frozen sketches.
  auto series = std::make_unique<WindowSeries>(kStart, WindowCounts{});
  SeedTraffic traffic;
  const std::size_t before = test::heap_in_use();
  traffic.run(*series, kStart, kStart + 6 * kHour, 400);
  const std::size_t held = test::heap_in_use() - before;
  std::printf("six hours of one series, 400 requests/s: %.2f MB on the heap\n", held / 1e6);
  EXPECT_LT(static_cast<double>(held), kBoundBytes);
}

TEST(MemoryBound, CoarseningGivesMemoryBackAndKeepsCountsAndQuantiles) {
  auto series = std::make_unique<WindowSeries>(kStart, WindowCounts{});
  SeedTraffic traffic;
  traffic.run(*series, kStart, kStart + 25 * kHour, 20);
  const WindowCounts totals = traffic.totals;
  const std::size_t fine = series->heap_bytes();
  WindowCounts counts_before[kWindowCount];
  double p99_before[kWindowCount];
  for (Window w : kAllWindows) {
    counts_before[static_cast<int>(w)] = series->counts(w, totals);
    p99_before[static_cast<int>(w)] = series->samples(w).quantile(0.99);
  }
  for (std::uint32_t factor = 2; factor <= WindowSeries::kMaxCoarsening; factor *= 2)
    for (std::uint32_t level = WindowSeries::kLevels - 1; level >= 1; --level) ASSERT_TRUE(series->coarsen(level));
  EXPECT_FALSE(series->coarsen(1)) << "at most kMaxCoarsening";
  EXPECT_FALSE(series->coarsen(0)) << "the 5-minute window never coarsens";
  const std::size_t coarse = series->heap_bytes();
  std::printf("a day of one series: %.2f MB fine, %.2f MB with the long windows in 8x buckets\n", fine / 1e6, coarse / 1e6);
  EXPECT_LT(coarse, fine / 2);
  // Nothing of the windows' contents changes at the moment of coarsening: the same buckets, merged.
  for (Window w : kAllWindows) {
    const auto i = static_cast<int>(w);
    EXPECT_EQ(series->counts(w, totals).requests, counts_before[i].requests) << to_string(w);
    EXPECT_NEAR(series->samples(w).quantile(0.99), p99_before[i], p99_before[i] * LatencySketch::kRelativeBound)
        << to_string(w);
  }
  // Later buckets close two by two... eight by eight: the 24 h window still spans a day, to within
  // one of its (now 2-hour) buckets, and counts every request of it exactly.
  traffic.run(*series, kStart + 25 * kHour, kStart + 30 * kHour, 20);
  const double day = 24.0 * 3600 * 20;
  EXPECT_NEAR(static_cast<double>(series->counts(Window::h24, traffic.totals).requests), day, 2.0 * 3600 * 20);
  EXPECT_EQ(series->samples(Window::all).sketch.count(), traffic.totals.requests);
}

}  // namespace
}  // namespace canary
