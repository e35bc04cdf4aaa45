// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "canary/aggregator.hpp"
#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/summary.hpp"
#include "canary/writer.hpp"
#include "process.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::fork_child;
using testing::ScratchSegment;
using testing::wait_child;

constexpr EndpointId kTurn = 4;

SegmentParams roomy() {
  SegmentParams p = testing::small_params();
  p.ring_records = 1 << 14;  // room for all the test's records: none dropped
  return p;
}

// 10,000 legacy requests with lognormal latencies and 10 errors, 500 canary ones, 3 errors.
std::vector<std::uint64_t> record_known_traffic() {
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> latency(std::log(200'000.0), 0.5);
  std::vector<std::uint64_t> legacy;
  for (int i = 0; i < 10000; ++i) {
    const auto us = static_cast<std::uint64_t>(latency(rng));
    legacy.push_back(us);
    record(kTurn, Method::post, 1, Version::legacy, i < 10 ? 500 : 200, us);
  }
  for (int i = 0; i < 500; ++i) record(1, Method::get, 2, Version::canary, i < 3 ? 503 : 200, 100'000);
  return legacy;
}

TEST(Aggregator, CountsComeFromTheSlabsAndQuantilesFromTheRings) {
  ScratchSegment s("agg", roomy());
  ASSERT_TRUE(attach(s.name()));
  auto a = Aggregator::start(s.segment(), {});
  ASSERT_TRUE(a) << a.status().message();
  std::vector<std::uint64_t> legacy = record_known_traffic();
  (*a)->drain();
  (*a)->tick();
  auto snap = (*a)->snapshot();
  const VersionWindow& l = snap->total(Window::all, Version::legacy);
  const VersionWindow& c = snap->total(Window::all, Version::canary);
  EXPECT_EQ(l.counts.requests, 10000u);
  EXPECT_EQ(l.counts.errors, 10u);
  EXPECT_EQ(c.counts.requests, 500u);
  EXPECT_EQ(c.counts.errors, 3u);
  EXPECT_EQ(c.counts.unavailable, 3u);
  std::sort(legacy.begin(), legacy.end());
  EXPECT_NEAR(l.p95_us / static_cast<double>(legacy[9499]), 1.0, 0.01);
  EXPECT_NEAR(c.p99_us, 100'000, 1);
  EXPECT_EQ(snap->endpoint(Window::all, Version::legacy, kTurn).counts.requests, 10000u);
  EXPECT_EQ(snap->endpoint(Window::m5, Version::canary, 1).counts.requests, 500u);

  SummaryData published;
  ASSERT_TRUE(read_summary(s.segment(), published));
  EXPECT_EQ(published.totals[static_cast<int>(Window::all)][0].requests, 10000u);
  EXPECT_DOUBLE_EQ(published.totals[static_cast<int>(Window::all)][0].p95_ms, l.p95_us / 1000);
  EXPECT_EQ(published.endpoints[kTurn][0].requests, 10000u);
  EXPECT_NE(s.segment().aggregator().heartbeat_unix_ns.load(), 0u);
}

TEST(Aggregator, OnlyOneRunsOnASegment) {
  ScratchSegment s("one");
  auto first = Aggregator::start(s.segment(), {});
  ASSERT_TRUE(first);
  auto other = Segment::attach(s.name(), Access::read_write);
  auto second = Aggregator::start(*other, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().code(), Errc::busy);
}

TEST(Aggregator, ACheckpointBringsTheDigestsBack) {
  ScratchSegment s("ckpt", roomy());
  testing::ScratchDir dir{"agg"};
  AggregatorOptions options;
  options.state_dir = dir.path;
  ASSERT_TRUE(attach(s.name()));
  record_known_traffic();
  double p95_before = 0;
  {
    auto a = Aggregator::start(s.segment(), options);
    ASSERT_TRUE(a);
    EXPECT_NE((*a)->checkpoint_status().find("no checkpoint"), std::string::npos);
    (*a)->drain();
    (*a)->tick();
    p95_before = (*a)->snapshot()->total(Window::all, Version::legacy).p95_us;
    ASSERT_TRUE((*a)->save_checkpoint().ok());
  }
  auto b = Aggregator::start(s.segment(), options);
  ASSERT_TRUE(b);
  EXPECT_NE((*b)->checkpoint_status().find("restored"), std::string::npos) << (*b)->checkpoint_status();
  const VersionWindow& l = (*b)->snapshot()->total(Window::all, Version::legacy);
  EXPECT_DOUBLE_EQ(l.p95_us, p95_before);
  EXPECT_EQ(l.counts.requests, 10000u);
  EXPECT_EQ(l.samples, 10000);
}

TEST(Aggregator, ACheckpointOfAnotherSegmentOrADamagedOneIsIgnored) {
  ScratchSegment s("ckpt2");
  testing::ScratchDir dir{"agg"};
  AggregatorOptions options;
  options.state_dir = dir.path;
  {
    auto a = Aggregator::start(s.segment(), options);
    ASSERT_TRUE(a);
    ASSERT_TRUE((*a)->save_checkpoint().ok());
  }
  const std::string path = dir.path + "/" + s.name() + ".checkpoint";
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  auto damaged = Aggregator::start(s.segment(), options);
  ASSERT_TRUE(damaged);
  EXPECT_NE((*damaged)->checkpoint_status().find("checksum"), std::string::npos) << (*damaged)->checkpoint_status();
  ASSERT_TRUE((*damaged)->save_checkpoint().ok());
  damaged->reset();

  // The same name, created again: a checkpoint of the old segment must not be trusted.
  CreateOptions replace{s.name(), testing::small_params(), 0600, "", true};
  auto fresh = Segment::create(replace, *make_initial_config({}, 16));
  ASSERT_TRUE(fresh);
  auto c = Aggregator::start(*fresh, options);
  ASSERT_TRUE(c);
  EXPECT_NE((*c)->checkpoint_status().find("another segment"), std::string::npos) << (*c)->checkpoint_status();
}

TEST(Aggregator, ANewRolloutStartsTheAllWindowOver) {
  ScratchSegment s("rollout", roomy());
  ASSERT_TRUE(attach(s.name()));
  auto a = Aggregator::start(s.segment(), {});
  ASSERT_TRUE(a);
  record_known_traffic();
  (*a)->drain();
  (*a)->tick();
  ASSERT_TRUE(update_config(s.segment(), "test", [](ConfigData& c) {
                c.rollout_started_unix_ns = unix_now_ns();
                return Status::Ok();
              }).ok());
  (*a)->tick();
  EXPECT_EQ((*a)->snapshot()->total(Window::all, Version::legacy).counts.requests, 0u);
  EXPECT_EQ((*a)->snapshot()->total(Window::m5, Version::legacy).counts.requests, 10000u);
  record(kTurn, Method::get, 1, Version::legacy, 200, 5);
  (*a)->drain();
  (*a)->tick();
  EXPECT_EQ((*a)->snapshot()->total(Window::all, Version::legacy).counts.requests, 1u);
}

TEST(Aggregator, EachIntervalReclaimsTheRingsOfDeadWritersAfterDrainingThem) {
  ScratchSegment s("reclaim");
  auto a = Aggregator::start(s.segment(), {});
  ASSERT_TRUE(a);
  const pid_t child = fork_child([&] {
    if (!attach(s.name())) return 2;
    for (int i = 0; i < 100; ++i) record(kTurn, Method::get, 1, Version::canary, 200, 1000);
    return 0;
  });
  ASSERT_EQ(wait_child(child), 0);
  (*a)->tick();
  for (const RingInfo& r : inspect_rings(s.segment())) EXPECT_FALSE(r.owned);
  EXPECT_EQ((*a)->snapshot()->total(Window::all, Version::canary).samples, 100);
  EXPECT_EQ((*a)->snapshot()->drained_records, 100u);
}

}  // namespace
}  // namespace canary
