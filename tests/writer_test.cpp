// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/ring.hpp"
#include "canary/writer.hpp"
#include "process.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::fork_child;
using testing::ScratchSegment;
using testing::small_params;
using testing::wait_child;

constexpr EndpointId kTurn = 4;  // /api/v2/conversations/{session_id}/turn

SegmentParams params_with_rings(std::uint32_t rings, std::uint32_t records) {
  SegmentParams p = small_params();
  p.ring_count = rings;
  p.ring_records = records;
  return p;
}

std::uint64_t total_requests(const Segment& s) {
  const SlabTotals t = sum_slabs(s, false);
  return t.version_total(Version::legacy).total() + t.version_total(Version::canary).total();
}

// Records the same mix of requests and checks every count the slabs keep.
void record_mix_and_check(ScratchSegment& s) {
  for (int i = 0; i < 1000; ++i) {
    record(kTurn, Method::post, 42, Version::canary, 200, 1500);
    record(kTurn, Method::get, 42, Version::canary, 503, 2500);
    record(kTurn, Method::put, 42, Version::legacy, 0, 10);
    record(kTurn, Method::del, 42, Version::legacy, 404, 100);
    record(kTurn, Method::patch, 42, Version::legacy, 502, 200);
    record(kTurn, Method::other, 42, Version::legacy, 700, 300);
  }
  const SlabTotals t = sum_slabs(s.segment(), /*with_histograms=*/true);
  const Counts& canary = t.at(Version::canary, kTurn);
  const Counts& legacy = t.at(Version::legacy, kTurn);
  EXPECT_EQ(canary.total(), 2000u);
  EXPECT_EQ(canary.requests[static_cast<int>(Method::post)][static_cast<int>(StatusClass::c2xx)], 1000u);
  EXPECT_EQ(canary.errors(), 1000u);
  EXPECT_EQ(canary.unavailable(), 1000u);
  EXPECT_EQ(canary.latency_sum_us, 4'000'000u);
  EXPECT_EQ(legacy.total(), 4000u);
  EXPECT_EQ(legacy.errors(), 2000u);         // status 0 and 502
  EXPECT_EQ(legacy.client_errors(), 1000u);  // 404
  EXPECT_EQ(legacy.unavailable(), 2000u);    // 0 and 502
  EXPECT_EQ(legacy.of_class(StatusClass::invalid), 1000u);
  EXPECT_EQ(legacy.latency_sum_us, 610'000u);
  const std::size_t canary_pair = (1 * t.endpoint_capacity + kTurn) * kHistogramBuckets;
  EXPECT_EQ(t.histograms[canary_pair + histogram_bucket(1500)], 1000u);
  EXPECT_EQ(t.histograms[canary_pair + histogram_bucket(2500)], 1000u);
  EXPECT_EQ(t.at(Version::legacy, kOtherEndpoint).total(), 0u);
}

TEST(Writer, RecordKeepsEveryCountExactly) {
  ScratchSegment s("writer");
  ASSERT_TRUE(attach(s.name()));
  record_mix_and_check(s);
  std::printf("rseq in use: %s\n", writer_stats().rseq ? "yes" : "no (fallback)");
}

TEST(Writer, TheAtomicFallbackKeepsEveryCountExactlyToo) {
  ScratchSegment s("fallback");
  setenv("CANARY_NO_RSEQ", "1", 1);
  ASSERT_TRUE(attach(s.name()));
  unsetenv("CANARY_NO_RSEQ");
  EXPECT_FALSE(writer_stats().rseq);
  record_mix_and_check(s);
}

TEST(Writer, AProcessThatCannotAttachFailsOpen) {
  EXPECT_FALSE(attach(testing::unique_segment_name("absent")));
  EXPECT_FALSE(attached());
  EXPECT_GE(writer_stats().attach_failures, 1u);
  const Decision d = route("user", std::string_view("/api/v2/conversations"));
  EXPECT_EQ(d.version, Version::legacy);
  EXPECT_EQ(d.endpoint, kOtherEndpoint);
  record(1, Method::get, 1, Version::canary, 200, 1);  // a no-op, not a crash
}

TEST(Writer, RoutesThroughTheSegmentConfig) {
  ScratchSegment s("route");
  ASSERT_TRUE(attach(s.name()));
  EXPECT_EQ(resolve_endpoint("/api/v2/conversations/{session_id}/turn"), kTurn);
  EXPECT_EQ(resolve_endpoint("/api/v2/conversations/x/turn?y=1"), kTurn);
  ASSERT_TRUE(update_config(s.segment(), "test", [](ConfigData& c) { return set_share(c, 10000); }).ok());
  EXPECT_EQ(route("anyone", kTurn).version, Version::canary);
  EXPECT_TRUE(is_canary_user("anyone"));
}

TEST(Writer, EndpointIdsTheSegmentHasNoRoomForAreRecordedAsOther) {
  ScratchSegment s("range");
  ASSERT_TRUE(attach(s.name()));
  record(EndpointId{9999}, Method::get, 1, Version::legacy, 200, 5);
  record(EndpointId{15}, Method::get, 1, Version::legacy, 200, 5);  // the last id of 16
  const SlabTotals t = sum_slabs(s.segment(), false);
  EXPECT_EQ(t.at(Version::legacy, kOtherEndpoint).total(), 1u);
  EXPECT_EQ(t.at(Version::legacy, EndpointId{15}).total(), 1u);
}

TEST(Writer, LatencyAboveSixtySecondsCountsFullyButLandsInTheTopBucket) {
  ScratchSegment s("slow");
  ASSERT_TRUE(attach(s.name()));
  record(kTurn, Method::get, 1, Version::legacy, 200, 90'000'000);
  const SlabTotals t = sum_slabs(s.segment(), true);
  EXPECT_EQ(t.at(Version::legacy, kTurn).latency_sum_us, 90'000'000u);
  EXPECT_EQ(t.histograms[kTurn * kHistogramBuckets + kHistogramOverflowBucket], 1u);
}

TEST(Writer, ALatencyAboveAnHourIsRecordedAsAnHourAndCounted) {
  ScratchSegment s("clamp");
  ASSERT_TRUE(attach(s.name()));
  record(kTurn, Method::get, 1, Version::legacy, 200, std::uint64_t{1} << 63);  // a variable never set
  record(kTurn, Method::get, 1, Version::legacy, 200, kMaxLatencyUs);            // the bound itself is kept
  record(kTurn, Method::get, 1, Version::legacy, 200, 250'000);
  const SlabTotals t = sum_slabs(s.segment(), true);
  EXPECT_EQ(t.at(Version::legacy, kTurn).total(), 3u);
  EXPECT_EQ(t.at(Version::legacy, kTurn).latency_sum_us, 2 * kMaxLatencyUs + 250'000);
  EXPECT_EQ(s.segment().rings_header().latency_clamped.load(), 1u);
  std::uint32_t ring_max = 0;
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);
  consumer->drain([&](const RingRecord& r) { ring_max = std::max(ring_max, r.latency_us); });
  EXPECT_EQ(ring_max, kMaxLatencyUs);
}

TEST(Writer, ScopedRequestRecordsWhenItEnds) {
  ScratchSegment s("scoped");
  ASSERT_TRUE(attach(s.name()));
  const Decision d = route("u", kTurn);
  {
    ScopedRequest request(d, Method::post);
    request.set_status(201);
  }
  { ScopedRequest never_answered(d, Method::get); }
  const Counts c = sum_slabs(s.segment(), false).at(d.version, kTurn);
  EXPECT_EQ(c.total(), 2u);
  EXPECT_EQ(c.of_class(StatusClass::c2xx), 1u);
  EXPECT_EQ(c.of_class(StatusClass::none), 1u);  // no status set: no response
}

TEST(Writer, DrainHandsTheConsumerWhatWasRecorded) {
  ScratchSegment s("drain");
  ASSERT_TRUE(attach(s.name()));
  for (std::uint32_t i = 0; i < 100; ++i) record(kTurn, Method::put, 1000 + i, Version::canary, 200 + i % 3, i);
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);
  std::vector<RingRecord> seen;
  const DrainStats stats = consumer->drain([&](const RingRecord& r) { seen.push_back(r); });
  ASSERT_EQ(stats.records, 100u);
  for (std::uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(seen[i].user_hash, 1000 + i);
    EXPECT_EQ(seen[i].latency_us, i);
    EXPECT_EQ(seen[i].status_code, 200 + i % 3);
    EXPECT_EQ(seen[i].endpoint_id, kTurn);
    EXPECT_EQ(seen[i].version, 1);
    EXPECT_EQ(seen[i].method, static_cast<std::uint8_t>(Method::put));
  }
  EXPECT_EQ(consumer->drain([](const RingRecord&) {}).records, 0u);  // drained means gone
}

TEST(Writer, AFullRingDropsAndCountsTheRestButTheSlabsStayExact) {
  ScratchSegment s("full", params_with_rings(2, 256));
  ASSERT_TRUE(attach(s.name()));
  for (int i = 0; i < 1000; ++i) record(kTurn, Method::get, 1, Version::legacy, 200, 10);
  EXPECT_EQ(writer_stats().ring_full_drops, 744u);
  EXPECT_EQ(total_requests(s.segment()), 1000u);
  auto consumer = RingConsumer::open(s.segment());
  EXPECT_EQ(consumer->drain([](const RingRecord&) {}).records, 256u);
  record(kTurn, Method::get, 1, Version::legacy, 200, 10);  // room again
  EXPECT_EQ(consumer->drain([](const RingRecord&) {}).records, 1u);
}

TEST(Writer, AWriterWithNoFreeRingDropsAndCountsTheRecordsButTheSlabsStayExact) {
  ScratchSegment s("noring", params_with_rings(1, 256));
  ASSERT_TRUE(attach(s.name()));
  record(kTurn, Method::get, 1, Version::legacy, 200, 10);  // this process takes the only ring
  ASSERT_GE(writer_stats().ring, 0);
  const pid_t child = fork_child([] {
    for (int i = 0; i < 500; ++i) record(kTurn, Method::get, 1, Version::legacy, 200, 10);
    return writer_stats().ring < 0 ? 0 : 1;
  });
  ASSERT_EQ(wait_child(child), 0);
  EXPECT_EQ(s.segment().rings_header().no_ring_drops.load(), 500u);
  EXPECT_EQ(total_requests(s.segment()), 501u);
}

TEST(Writer, AChildForkedAfterAttachClaimsItsOwnRingWithoutAnyCall) {
  ScratchSegment s("fork");
  ASSERT_TRUE(attach(s.name()));
  record(kTurn, Method::get, 1, Version::legacy, 200, 10);
  const int parent_ring = writer_stats().ring;
  ASSERT_GE(parent_ring, 0);
  const pid_t child = fork_child([&] {
    for (int i = 0; i < 10; ++i) record(kTurn, Method::get, 2, Version::canary, 200, 10);
    const int ring = writer_stats().ring;
    return ring >= 0 && ring != parent_ring ? 0 : 1;
  });
  ASSERT_EQ(wait_child(child), 0);
  const auto rings = inspect_rings(s.segment());
  std::uint32_t owned = 0;
  for (const RingInfo& r : rings) {
    if (!r.owned) continue;
    ++owned;
    if (static_cast<int>(r.index) == parent_ring) {
      EXPECT_EQ(r.owner_pid, static_cast<std::uint32_t>(getpid()));
      EXPECT_TRUE(r.alive);
      EXPECT_EQ(r.records, 1u);
    } else {
      EXPECT_FALSE(r.alive);  // the child has exited
      EXPECT_EQ(r.records, 10u);
    }
  }
  EXPECT_EQ(owned, 2u);
  EXPECT_EQ(total_requests(s.segment()), 11u);
}

// A segment made under `name`, replacing one that is there.
std::unique_ptr<Segment> make_segment(const std::string& name) {
  CreateOptions options;
  options.name = name;
  options.params = small_params();
  options.replace_existing = true;
  auto created = Segment::create(options, *make_initial_config({}, options.params.endpoint_capacity));
  return created ? std::make_unique<Segment>(std::move(*created)) : nullptr;
}

bool eventually(const std::function<bool()>& condition, std::chrono::seconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::uint64_t requests_of(const Segment& s, Version v) { return sum_slabs(s, false).version_total(v).total(); }

// Liveness bounds are five times the one-second target (SPEC 9).
constexpr auto kReattachBound = std::chrono::seconds(5);

TEST(Writer, AWorkerStartedBeforeItsSegmentExistedAttachesOnceItDoes) {
  const std::string name = testing::unique_segment_name("late");
  const pid_t child = fork_child([&] {
    if (attach(name)) return 2;  // it must not exist yet
    for (int i = 0; i < 1000; ++i) {
      record(kTurn, Method::get, 1, Version::legacy, 200, 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto segment = make_segment(name);
  ASSERT_TRUE(segment);
  EXPECT_TRUE(eventually([&] { return requests_of(*segment, Version::legacy) > 0; }, kReattachBound));
  testing::kill_child(child);
  (void)Segment::destroy(name);
}

TEST(Writer, WorkersAndTheirForkedChildrenFollowASegmentThatIsRecreated) {
  const std::string name = testing::unique_segment_name("again");
  auto first = make_segment(name);
  ASSERT_TRUE(first);
  const pid_t child = fork_child([&] {
    if (!attach(name)) return 2;
    // A worker of a pre-forked pool: forked after attach, it never calls attach itself.
    const pid_t grandchild = fork_child([] {
      for (int i = 0; i < 1000; ++i) {
        record(kTurn, Method::get, 2, Version::canary, 200, 10);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return 0;
    });
    for (int i = 0; i < 1000; ++i) {
      record(kTurn, Method::get, 1, Version::legacy, 200, 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    testing::kill_child(grandchild);
    return 0;
  });
  ASSERT_TRUE(eventually([&] { return requests_of(*first, Version::legacy) > 0 && requests_of(*first, Version::canary) > 0; },
                         kReattachBound));
  auto second = make_segment(name);  // canary-ctl init --force
  ASSERT_TRUE(second);
  EXPECT_TRUE(eventually([&] { return requests_of(*second, Version::legacy) > 0; }, kReattachBound)) << "the worker";
  EXPECT_TRUE(eventually([&] { return requests_of(*second, Version::canary) > 0; }, kReattachBound)) << "its child";
  testing::kill_child(child);
  (void)Segment::destroy(name);
}

TEST(Writer, AThreadThatEndsGivesItsRingBackToTheConsumer) {
  ScratchSegment s("thread");
  ASSERT_TRUE(attach(s.name()));
  std::thread([] { record(kTurn, Method::get, 7, Version::legacy, 200, 10); }).join();
  auto consumer = RingConsumer::open(s.segment());
  std::uint64_t drained = 0;
  const ReclaimStats reclaimed = consumer->reclaim_dead([&](const RingRecord&) { ++drained; });
  EXPECT_EQ(reclaimed.rings, 1u);
  EXPECT_EQ(drained, 1u);  // drained before being freed
  for (const RingInfo& r : inspect_rings(s.segment())) EXPECT_FALSE(r.owned);
}

TEST(Writer, ReapCountsTheUndrainedRecordsOfDeadWritersAsDropped) {
  ScratchSegment s("reap");
  ASSERT_TRUE(attach(s.name()));
  const pid_t child = fork_child([] {
    for (int i = 0; i < 30; ++i) record(kTurn, Method::get, 1, Version::legacy, 200, 10);
    return 0;
  });
  ASSERT_EQ(wait_child(child), 0);
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);
  // A second consumer is refused while this one lives.
  auto other = Segment::attach(s.name(), Access::read_write);
  EXPECT_EQ(RingConsumer::open(*other).status().code(), Errc::busy);
  const ReclaimStats reaped = consumer->reap_dead();
  EXPECT_EQ(reaped.rings, 1u);
  EXPECT_EQ(reaped.discarded, 30u);
  EXPECT_EQ(s.segment().rings_header().reaped_records.load(), 30u);
  EXPECT_EQ(total_requests(s.segment()), 30u);  // the counts never depended on the ring
}

}  // namespace
}  // namespace canary
