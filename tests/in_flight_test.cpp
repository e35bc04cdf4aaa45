// SPDX-License-Identifier: Apache-2.0
// Requests in flight (SPEC section 10): begin() marks a request in the writer's own ring, its
// record() takes the mark off, and a writer that dies with marks left has each counted once as
// unavailable (status 0) for its version and endpoint, by the aggregator's reclaim or by reap.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "canary/ring.hpp"
#include "canary/slab.hpp"
#include "canary/writer.hpp"
#include "process.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::fork_child;
using testing::ScratchSegment;
using testing::wait_child;

constexpr EndpointId kTurn = 4;
constexpr EndpointId kStart = 3;

Decision decision(Version v, EndpointId e) { return Decision{v, e, 99}; }

const Counts& counts(const SlabTotals& t, Version v, EndpointId e) { return t.at(v, e); }

std::uint64_t marks_left(const Segment& s) {
  std::uint64_t n = 0;
  const RingsView rings = RingsView::of(s);
  for (std::uint32_t i = 0; i < rings.count; ++i)
    for (const auto& by_endpoint : rings.control(i).in_flight)
      for (const auto& mark : by_endpoint) n += mark.load();
  return n;
}

// A worker that begins four requests, answers one, and crashes with three in flight: two canary
// requests of /turn and one legacy request of /start.
int crash_with_three_in_flight() {
  InFlight answered = begin(decision(Version::canary, kTurn));
  InFlight a = begin(decision(Version::canary, kTurn));
  InFlight b = begin(decision(Version::canary, kTurn));
  InFlight c = begin(decision(Version::legacy, kStart));
  record(answered, Method::get, 200, 1000);
  (void)a, (void)b, (void)c;
  std::abort();
}

TEST(InFlight, ACrashedWritersRequestsCountAsUnavailableWhenTheAggregatorReclaimsItsRing) {
  ScratchSegment s("inflight");
  ASSERT_TRUE(attach(s.name()));
  EXPECT_EQ(wait_child(fork_child(crash_with_three_in_flight)), 128 + SIGABRT);
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);
  std::uint64_t drained = 0;
  const ReclaimStats reclaimed = consumer->reclaim_dead([&](const RingRecord&) { ++drained; });
  EXPECT_EQ(reclaimed.rings, 1u);
  EXPECT_EQ(drained, 1u);  // the answered one, with its latency
  EXPECT_EQ(reclaimed.unanswered, 3u);

  const SlabTotals t = sum_slabs(s.segment(), /*with_histograms=*/true);
  const Counts& canary = counts(t, Version::canary, kTurn);
  EXPECT_EQ(canary.total(), 3u);
  EXPECT_EQ(canary.unavailable(), 2u);
  EXPECT_EQ(canary.requests[static_cast<int>(Method::other)][static_cast<int>(StatusClass::none)], 2u);
  EXPECT_EQ(canary.latency_sum_us, 1000u);  // the crashed ones have no latency
  EXPECT_EQ(counts(t, Version::legacy, kStart).unavailable(), 1u);
  EXPECT_EQ(s.segment().rings_header().crashed_in_flight.load(), 3u);
  EXPECT_EQ(marks_left(s.segment()), 0u);  // counted once: a second reclaim finds nothing
  EXPECT_EQ(consumer->reclaim_dead([](const RingRecord&) {}).unanswered, 0u);
}

TEST(InFlight, ReapCountsThemTooWhenNoAggregatorRuns) {
  ScratchSegment s("inflight-reap");
  ASSERT_TRUE(attach(s.name()));
  EXPECT_EQ(wait_child(fork_child(crash_with_three_in_flight)), 128 + SIGABRT);
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);
  const ReclaimStats reaped = consumer->reap_dead();
  EXPECT_EQ(reaped.unanswered, 3u);
  const SlabTotals t = sum_slabs(s.segment(), false);
  EXPECT_EQ(counts(t, Version::canary, kTurn).unavailable(), 2u);
  EXPECT_EQ(counts(t, Version::legacy, kStart).unavailable(), 1u);
}

TEST(InFlight, AScopedRequestInAWorkerKilledMidRequestCounts) {
  ScratchSegment s("inflight-scoped");
  ASSERT_TRUE(attach(s.name()));
  const pid_t child = fork_child([] {
    ScopedRequest request(decision(Version::canary, kTurn), Method::post);
    _exit(3);  // no destructor runs: as good as a crash for the request
    return 0;
  });
  EXPECT_EQ(wait_child(child), 3);
  auto consumer = RingConsumer::open(s.segment());
  EXPECT_EQ(consumer->reclaim_dead([](const RingRecord&) {}).unanswered, 1u);
  EXPECT_EQ(counts(sum_slabs(s.segment(), false), Version::canary, kTurn).unavailable(), 1u);
}

TEST(InFlight, AnsweredRequestsLeaveNoMarkAndNothingIsCounted) {
  ScratchSegment s("inflight-clean");
  ASSERT_TRUE(attach(s.name()));
  const pid_t child = fork_child([] {
    for (int i = 0; i < 1000; ++i) {
      ScopedRequest request(decision(i % 2 ? Version::canary : Version::legacy, kTurn), Method::get);
      request.set_status(200);
    }
    std::abort();  // dies idle
    return 0;
  });
  EXPECT_EQ(wait_child(child), 128 + SIGABRT);
  auto consumer = RingConsumer::open(s.segment());
  std::uint64_t drained = 0;
  EXPECT_EQ(consumer->reclaim_dead([&](const RingRecord&) { ++drained; }).unanswered, 0u);
  EXPECT_EQ(drained, 1000u);
  const SlabTotals t = sum_slabs(s.segment(), false);
  EXPECT_EQ(counts(t, Version::canary, kTurn).unavailable(), 0u);
  EXPECT_EQ(counts(t, Version::canary, kTurn).total() + counts(t, Version::legacy, kTurn).total(), 1000u);
}

TEST(InFlight, AThreadThatEndsIsNotACrash) {
  ScratchSegment s("inflight-thread");
  ASSERT_TRUE(attach(s.name()));
  // begin() without record() on a thread that then ends normally: its marks go with its ring.
  std::thread([] { (void)begin(decision(Version::canary, kTurn)); }).join();
  auto consumer = RingConsumer::open(s.segment());
  const ReclaimStats reclaimed = consumer->reclaim_dead([](const RingRecord&) {});
  EXPECT_EQ(reclaimed.rings, 1u);
  EXPECT_EQ(reclaimed.unanswered, 0u);
  EXPECT_EQ(counts(sum_slabs(s.segment(), false), Version::canary, kTurn).total(), 0u);
}

TEST(InFlight, ARecordOnAnotherThreadIsCountedAndLeavesTheOwnersMarkAlone) {
  ScratchSegment s("inflight-cross");
  ASSERT_TRUE(attach(s.name()));
  InFlight request = begin(decision(Version::canary, kTurn));
  ASSERT_NE(request.ring, nullptr);
  const std::uint64_t before = writer_stats().in_flight_other_thread;
  std::thread([&] { record(request, Method::get, 200, 10); }).join();
  EXPECT_EQ(writer_stats().in_flight_other_thread, before + 1);
  EXPECT_EQ(request.ring, nullptr);  // taken: a second record() carries no mark
  EXPECT_EQ(marks_left(s.segment()), 1u);
}

TEST(InFlight, ACorruptMarkOnADeadRingIsIgnoredAndCounted) {
  ScratchSegment s("inflight-corrupt");
  ASSERT_TRUE(attach(s.name()));
  const pid_t child = fork_child([] {
    InFlight request = begin(decision(Version::canary, kTurn));
    request.ring->in_flight[1][kTurn].store(0xFFFFFFFFu);  // what a hostile segment could hold
    request.ring->in_flight[0][kMaxEndpoints - 1].store(5);  // an endpoint past the capacity
    std::abort();
    return 0;
  });
  EXPECT_EQ(wait_child(child), 128 + SIGABRT);
  auto consumer = RingConsumer::open(s.segment());
  EXPECT_EQ(consumer->reclaim_dead([](const RingRecord&) {}).unanswered, 0u);
  EXPECT_EQ(s.segment().rings_header().invalid_in_flight.load(), 2u);
  EXPECT_EQ(counts(sum_slabs(s.segment(), false), Version::canary, kTurn).total(), 0u);
  EXPECT_EQ(marks_left(s.segment()), 0u);
}

}  // namespace
}  // namespace canary
