// SPDX-License-Identifier: Apache-2.0
// The aggregator's memory, measured on the heap (not by serialized size): a day of one window
// series at the seed's traffic shape stays under the documented bound, the estimate that
// --memory-limit acts on tracks what malloc holds, and coarsening the long windows gives memory
// back without changing a count or moving a quantile out of its bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "canary/window_series.hpp"
#include "memory_probes.hpp"

namespace canary {
namespace {

constexpr std::uint64_t kSecond = 1000;
constexpr std::uint64_t kHour = 3600 * kSecond;
constexpr std::uint64_t kStart = 1'000'000'000;
constexpr double kBoundBytes = 5.0 * 1024 * 1024;  // the bound per series, docs/aggregator.md

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kHeapMeasurable = false;
#else
constexpr bool kHeapMeasurable = true;
#endif

TEST(MemoryBound, ADayOfOneSeriesAtTheSeedsTrafficStaysUnderFiveMegabytesOfHeap) {
  if (!kHeapMeasurable) GTEST_SKIP() << "a sanitizer's allocator does not report its heap";
  const std::size_t before = test::heap_in_use();
  auto series = std::make_unique<WindowSeries>(kStart, WindowCounts{});
  test::SeedTraffic traffic;
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
  test::SeedTraffic traffic;
  const std::size_t before = test::heap_in_use();
  traffic.run(*series, kStart, kStart + 6 * kHour, 400);
  const std::size_t held = test::heap_in_use() - before;
  std::printf("six hours of one series, 400 requests/s: %.2f MB on the heap\n", held / 1e6);
  EXPECT_LT(static_cast<double>(held), kBoundBytes);
}

TEST(MemoryBound, CoarseningGivesMemoryBackAndKeepsCountsAndQuantiles) {
  auto series = std::make_unique<WindowSeries>(kStart, WindowCounts{});
  test::SeedTraffic traffic;
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

// A running experiment's cost per user, on the heap: what docs/aggregator.md's table states; and
// the estimate --memory-limit counts, within 5% of it.
double bytes_per_user(std::uint32_t metrics, std::uint64_t users) {
  const test::ExperimentUsers m = test::ExperimentUsers::measure(metrics, users);
  EXPECT_EQ(m.tracked, users);
  EXPECT_NEAR(m.estimated_per_user, m.measured_per_user, 0.05 * m.measured_per_user);
  return m.measured_per_user;
}

TEST(MemoryBound, AnExperimentUserCostsWhatTheDocsSay) {
  if (!kHeapMeasurable) GTEST_SKIP() << "a sanitizer's allocator does not report its heap";
  // Worst and best points of the table's growth: just after a doubling (7/16 full) and just before
  // (7/8). 1024 slots at first, doubling: 458,752 users fill 2^19 slots to 7/8; one more doubles.
  for (std::uint32_t metrics : {1u, 4u}) {
    const double full = bytes_per_user(metrics, 458'752);
    const double sparse = bytes_per_user(metrics, 458'753);
    std::printf("%u metric(s): %.1f bytes per user at 7/8 full, %.1f just after a doubling\n", metrics, full, sparse);
    const double slot = 9.0 + 8.0 * metrics;
    EXPECT_LE(full, slot * 8 / 7 * 1.02);
    EXPECT_LE(sparse, slot * 16 / 7 * 1.02);
  }
}

}  // namespace
}  // namespace canary
