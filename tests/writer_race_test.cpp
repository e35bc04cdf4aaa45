// SPDX-License-Identifier: Apache-2.0
// Writer threads racing a consumer thread; built and run under ThreadSanitizer in CI too (where
// the rseq path is compiled out, so the atomic fallback is what runs).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "canary/ring.hpp"
#include "canary/writer.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::ScratchSegment;

TEST(WriterRace, ThreadsRecordingWhileTheConsumerDrainsLoseNoCount) {
  SegmentParams params = testing::small_params();
  params.ring_records = 1024;
  ScratchSegment s("threads", params);
  ASSERT_TRUE(attach(s.name()));
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);

  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 100000;
  std::atomic<int> running{kThreads};
  std::atomic<std::uint64_t> full_drops{0};
  std::uint64_t drained = 0;
  std::thread drainer([&] {
    while (running.load() > 0) drained += consumer->drain([](const RingRecord&) {}).records;
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < kPerThread; ++i)
        record(static_cast<EndpointId>(1 + i % 7), static_cast<Method>(i % kMethodCount), i,
               static_cast<Version>(t & 1), 200 + static_cast<std::uint32_t>(i % 350), i % 5000);
      full_drops += writer_stats().ring_full_drops;
      running.fetch_sub(1);
    });
  for (auto& w : writers) w.join();
  drainer.join();
  drained += consumer->drain([](const RingRecord&) {}).records;
  consumer->reclaim_dead([&](const RingRecord&) { ++drained; });

  const SlabTotals t = sum_slabs(s.segment(), false);
  const std::uint64_t counted = t.version_total(Version::legacy).total() + t.version_total(Version::canary).total();
  EXPECT_EQ(counted, kThreads * kPerThread);
  EXPECT_EQ(drained + full_drops.load(), kThreads * kPerThread);
  std::printf("rseq %s: %llu counted, %llu drained, %llu dropped on a full ring\n", writer_stats().rseq ? "on" : "off",
              static_cast<unsigned long long>(counted), static_cast<unsigned long long>(drained),
              static_cast<unsigned long long>(full_drops.load()));
}

TEST(WriterRace, MoreThreadsThanCpusStillCountExactly) {
  ScratchSegment s("preempt");
  ASSERT_TRUE(attach(s.name()));
  constexpr int kThreads = 8;
  constexpr std::uint64_t kPerThread = 200000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) record(1, Method::get, i, Version::legacy, 200, 100);
    });
  for (auto& w : writers) w.join();
  const Counts c = sum_slabs(s.segment(), false).at(Version::legacy, 1);
  EXPECT_EQ(c.total(), kThreads * kPerThread);
  EXPECT_EQ(c.latency_sum_us, kThreads * kPerThread * 100);
}

TEST(WriterRace, ThreadsMarkingRequestsInFlightWhileTheConsumerReclaimsCountNoCrash) {
  // Every thread marks and answers its own requests while the consumer drains and reclaims the
  // rings of threads that already ended: no mark is ever counted as a crash.
  ScratchSegment s("inflight-race");
  ASSERT_TRUE(attach(s.name()));
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 50000;
  std::atomic<int> running{kThreads};
  std::uint64_t unanswered = 0;
  std::thread drainer([&] {
    while (running.load() > 0) {
      consumer->drain([](const RingRecord&) {});
      unanswered += consumer->reclaim_dead([](const RingRecord&) {}).unanswered;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        ScopedRequest request(Decision{static_cast<Version>(t & 1), static_cast<EndpointId>(1 + i % 7), i}, Method::get);
        request.set_status(200);
      }
      running.fetch_sub(1);
    });
  for (auto& w : writers) w.join();
  drainer.join();
  unanswered += consumer->reclaim_dead([](const RingRecord&) {}).unanswered;
  EXPECT_EQ(unanswered, 0u);
  const SlabTotals t = sum_slabs(s.segment(), false);
  EXPECT_EQ(t.version_total(Version::legacy).total() + t.version_total(Version::canary).total(), kThreads * kPerThread);
  EXPECT_EQ(t.version_total(Version::legacy).unavailable() + t.version_total(Version::canary).unavailable(), 0u);
}

}  // namespace
}  // namespace canary
