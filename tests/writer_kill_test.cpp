// SPDX-License-Identifier: Apache-2.0
// Writers killed with SIGKILL at random points, while the consumer drains: the counts stay
// consistent, no torn ring record is ever read, dead rings are reclaimed, and a clean run
// afterwards adds exactly what it recorded.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "canary/ring.hpp"
#include "canary/writer.hpp"
#include "process.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using namespace std::chrono_literals;
using testing::fork_child;
using testing::kill_child;
using testing::ScratchSegment;
using testing::wait_child;

constexpr std::uint64_t kLatencyUs = 1000;

// Every field of a record derives from its user hash, so a record mixed from two writes (torn)
// fails the check.
struct SelfChecking {
  static RingRecord expected(std::uint64_t r, std::uint32_t capacity) {
    RingRecord e{};
    e.user_hash = r;
    e.endpoint_id = static_cast<EndpointId>(r % capacity);
    e.method = static_cast<std::uint8_t>((r >> 8) % kMethodCount);
    e.version = static_cast<std::uint8_t>((r >> 16) & 1);
    e.status_code = static_cast<std::uint16_t>(200 + (r >> 20) % 400);
    e.latency_us = kLatencyUs;
    return e;
  }
  static void write(std::uint64_t r, std::uint32_t capacity) {
    const RingRecord e = expected(r, capacity);
    record(e.endpoint_id, static_cast<Method>(e.method), e.user_hash, static_cast<Version>(e.version), e.status_code,
           e.latency_us);
  }
  static bool whole(const RingRecord& got, std::uint32_t capacity) {
    const RingRecord e = expected(got.user_hash, capacity);
    return got.endpoint_id == e.endpoint_id && got.method == e.method && got.version == e.version &&
           got.status_code == e.status_code && got.latency_us == e.latency_us;
  }
};

TEST(WriterKill, KilledWritersLeaveConsistentCountsAndNoTornRecords) {
  SegmentParams params = testing::small_params();
  params.ring_count = 6;
  ScratchSegment s("kill9", params);
  const std::uint32_t capacity = params.endpoint_capacity;
  auto consumer = RingConsumer::open(s.segment());
  ASSERT_TRUE(consumer);

  auto spawn = [&](std::uint64_t seed) {
    return fork_child([&, seed] {
      if (!attach(s.name())) return 2;
      std::mt19937_64 rng(seed);
      while (true) SelfChecking::write(rng(), capacity);
    });
  };
  std::mt19937_64 rng(2024);
  std::vector<pid_t> live;
  for (int i = 0; i < 3; ++i) live.push_back(spawn(rng()));

  std::uint64_t drained = 0, torn = 0, kills = 0;
  auto check = [&](const RingRecord& r) {
    ++drained;
    torn += !SelfChecking::whole(r, capacity);
  };
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    const std::size_t victim = rng() % live.size();
    kill_child(live[victim]);
    ++kills;
    live[victim] = spawn(rng());
    consumer->drain(check);
    consumer->reclaim_dead(check);
  }
  for (pid_t pid : live) kill_child(pid);
  kills += live.size();
  consumer->drain(check);
  consumer->reclaim_dead(check);

  EXPECT_EQ(torn, 0u);
  EXPECT_GT(drained, 0u);
  for (const RingInfo& r : inspect_rings(s.segment())) EXPECT_FALSE(r.owned) << "ring " << r.index;

  // A record is whole or absent: whatever instruction a writer was killed at, every counted
  // request has its latency in the sum and its entry in the histogram, exactly.
  const SlabTotals t = sum_slabs(s.segment(), true);
  std::uint64_t requests = 0, latency_records = 0, histogram = 0;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    for (std::uint32_t e = 0; e < capacity; ++e) {
      const Counts& c = t.at(static_cast<Version>(v), static_cast<EndpointId>(e));
      requests += c.total();
      latency_records += c.latency_sum_us / kLatencyUs;
      EXPECT_EQ(c.latency_sum_us % kLatencyUs, 0u);
      histogram += t.histograms[(v * capacity + e) * kHistogramBuckets + histogram_bucket(kLatencyUs)];
    }
  EXPECT_EQ(latency_records, requests);
  EXPECT_EQ(histogram, requests);
  std::printf("%llu kills, %llu requests counted, %llu records drained, 0 torn\n",
              static_cast<unsigned long long>(kills), static_cast<unsigned long long>(requests),
              static_cast<unsigned long long>(drained));

  // A clean run afterwards adds exactly its own records.
  const std::uint64_t before = requests;
  std::vector<pid_t> clean;
  for (int i = 0; i < 2; ++i)
    clean.push_back(fork_child([&, i] {
      if (!attach(s.name())) return 2;
      std::mt19937_64 r(77 + static_cast<std::uint64_t>(i));
      for (int n = 0; n < 20000; ++n) SelfChecking::write(r(), capacity);
      return 0;
    }));
  for (pid_t pid : clean) ASSERT_EQ(wait_child(pid), 0);
  const SlabTotals after = sum_slabs(s.segment(), false);
  EXPECT_EQ(after.version_total(Version::legacy).total() + after.version_total(Version::canary).total(),
            before + 40000);
}

}  // namespace
}  // namespace canary
