// SPDX-License-Identifier: Apache-2.0
// The aggregator's threads (clock, drain and tick loop) against writer threads and readers of its
// snapshot, as the HTTP threads read it; built and run under ThreadSanitizer in CI too.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "canary/aggregator.hpp"
#include "canary/summary.hpp"
#include "canary/writer.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

TEST(AggregatorRace, RunsBesideWritersAndSnapshotReaders) {
  testing::ScratchSegment s("aggrace");
  ASSERT_TRUE(attach(s.name()));
  AggregatorOptions options;
  options.interval_ms = 20;
  options.drain_ms = 2;
  auto a = Aggregator::start(s.segment(), options);
  ASSERT_TRUE(a);
  std::atomic<bool> stop{false};
  std::thread runner([&] { EXPECT_TRUE((*a)->run(stop).ok()); });

  constexpr int kWriters = 3;
  constexpr std::uint64_t kEach = 50000;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([w] {
      for (std::uint64_t i = 0; i < kEach; ++i) record(1, Method::get, i, static_cast<Version>(w & 1), 200, 100 + i % 900);
    });
  std::atomic<std::uint64_t> reads{0};
  std::thread reader([&] {
    SummaryData summary;
    while (!stop.load()) {
      if (auto snap = (*a)->snapshot()) reads += snap->total(Window::all, Version::legacy).counts.requests > 0;
      (void)read_summary(s.segment(), summary);
    }
  });
  for (auto& w : writers) w.join();
  // Until the reader has seen an interval with the writers' requests (a few intervals; a sanitizer
  // build on a busy machine may need many more), at most 10 s.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (reads.load() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  runner.join();
  reader.join();
  const auto snap = (*a)->snapshot();
  EXPECT_EQ(snap->total(Window::all, Version::legacy).counts.requests +
                snap->total(Window::all, Version::canary).counts.requests,
            kWriters * kEach);
  EXPECT_GT(reads.load(), 0u);
}

}  // namespace
}  // namespace canary
