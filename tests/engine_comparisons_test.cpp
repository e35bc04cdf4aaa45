// SPDX-License-Identifier: Apache-2.0
// The decision engine compares like with like: only traffic the candidate could have served (a
// user id, an endpoint it is on) enters a comparison with the baseline, and a user's requests
// count as one user's (user_buckets.hpp). Records go straight into the engine, as the aggregator's
// drain hands them over, with the slab counts that match them.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "canary/config.hpp"
#include "canary/decision/engine.hpp"
#include "canary/deployment.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

constexpr std::uint16_t kFast = 1;  // seed endpoint 1: answers in about 40 ms
constexpr std::uint16_t kSlow = 2;  // seed endpoint 2: about 300 ms

class Traffic {
 public:
  explicit Traffic(Segment& segment) : segment_(segment), engine_(segment, Policy{}, 1000) {
    capacity_ = segment.geometry().params.endpoint_capacity;
    counts_.resize(std::size_t{kMaxVersions} * capacity_);
    EventDraft event;
    EXPECT_TRUE(update_config(segment_, "test", [&](ConfigData& c) { return start_rollout(c, {}, "test", event); }).ok());
    tick();  // the engine sees the rollout start: its step begins here
  }

  // One request; the slab counts follow it.
  void request(std::uint32_t version, std::uint16_t endpoint, std::uint64_t user_hash, double latency_ms, std::uint16_t status = 200) {
    RingRecord r{};
    r.user_hash = user_hash;
    r.latency_us = static_cast<std::uint32_t>(latency_ms * 1000);
    r.status_code = status;
    r.endpoint_id = endpoint;
    r.version = static_cast<std::uint8_t>(version);
    r.kind = kRecordRequest;
    engine_.add(r);
    WindowCounts& c = counts_[std::size_t{version} * capacity_ + endpoint];
    ++c.requests;
    c.errors += status >= 500 ? 1 : 0;
    c.latency_sum_us += r.latency_us;
  }

  const DecisionStatus& tick() {
    now_ms_ += 1000;
    ConfigData config;
    EXPECT_TRUE(read_config(segment_.config(), config, capacity_).ok);
    engine_.tick(now_ms_, counts_, capacity_, config);
    status_ = engine_.status();
    return *status_;
  }

 private:
  Segment& segment_;
  DecisionEngine engine_;
  std::uint32_t capacity_ = 0;
  std::vector<WindowCounts> counts_;
  std::uint64_t now_ms_ = 1'000'000;
  std::shared_ptr<const DecisionStatus> status_;
};

const Check* find(const Judgement& j, const std::string& name, const std::string& window) {
  for (const Check& c : j.triggers)
    if (c.name == name && c.window == window && c.endpoint.empty()) return &c;
  return nullptr;
}

std::uint64_t user(std::uint64_t i) { return 0x9E3779B97F4A7C15ull * (i + 1) | 1; }

TEST(EngineComparisons, AnonymousVisitorsOfAFasterEndpointAreInNoComparison) {
  testing::ScratchSegment scratch("compare");
  Traffic t(scratch.segment());
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> fast(std::log(40.0), 0.3), slow(std::log(300.0), 0.6);
  const DecisionStatus* s = nullptr;
  for (int second = 0; second < 30; ++second) {
    // Identified users: half their requests on each endpoint, on both versions alike.
    for (int i = 0; i < 1000; ++i) {
      const std::uint32_t version = i % 5 == 0 ? 1 : 0;
      const std::uint16_t endpoint = i % 2 == 0 ? kFast : kSlow;
      t.request(version, endpoint, user(static_cast<std::uint64_t>(second * 1000 + i)), endpoint == kFast ? fast(rng) : slow(rng));
    }
    // Anonymous visitors (always the baseline) on the fast endpoint: 30% of all requests.
    for (int i = 0; i < 430; ++i) t.request(0, kFast, 0, fast(rng));
    s = &t.tick();
  }
  ASSERT_TRUE(s->judged);
  const Check* p95 = find(s->judgement, "p95_increase", "step");
  ASSERT_NE(p95, nullptr);
  // The baseline's P95 over its identified users is the candidate's: no increase, none proven.
  EXPECT_LT(std::abs(p95->value), 0.05) << "canary P95 over legacy's, minus 1";
  EXPECT_FALSE(p95->holds);
  EXPECT_FALSE(s->judgement.rollback) << s->judgement.first_trigger()->name;
}

TEST(EngineComparisons, TheBaselinesTrafficOnEndpointsTheCandidateIsNotOnIsInNoComparison) {
  testing::ScratchSegment scratch("compare");
  Traffic t(scratch.segment());
  EXPECT_TRUE(update_config(scratch.segment(), "test", [](ConfigData& c) {
                return remove_endpoint(c, seed_endpoints()[kFast - 1], kFirstCandidate);
              }).ok());
  std::mt19937_64 rng(8);
  std::lognormal_distribution<double> fast(std::log(40.0), 0.3), slow(std::log(300.0), 0.6);
  const DecisionStatus* s = nullptr;
  for (int second = 0; second < 30; ++second) {
    for (int i = 0; i < 1000; ++i) {
      const std::uint64_t id = user(static_cast<std::uint64_t>(second * 1000 + i));
      if (i % 5 == 0)
        t.request(1, kSlow, id, slow(rng));  // the candidate is on the slow endpoint only
      else
        t.request(0, i % 2 == 0 ? kFast : kSlow, id, i % 2 == 0 ? fast(rng) : slow(rng));
    }
    s = &t.tick();
  }
  ASSERT_TRUE(s->judged);
  const Check* p95 = find(s->judgement, "p95_increase", "step");
  ASSERT_NE(p95, nullptr);
  EXPECT_LT(std::abs(p95->value), 0.05);
  EXPECT_FALSE(s->judgement.rollback) << s->judgement.first_trigger()->name;
}

TEST(EngineComparisons, ABrokenAccountWeighsAsOneUserNotAsItsTwentyFailures) {
  testing::ScratchSegment scratch("compare");
  Traffic t(scratch.segment());
  // 10,000 users, one in five on the canary; one in 50 on either version is a broken account
  // that sends 20 failing requests (the design effect is about 14).
  for (int i = 0; i < 10'000; ++i) {
    const std::uint32_t version = i % 5 == 0 ? 1 : 0;
    const std::uint64_t id = user(static_cast<std::uint64_t>(i));
    t.request(version, kSlow, id, 300);
    if ((i / 5) % 50 == 0)
      for (int k = 0; k < 20; ++k) t.request(version, kSlow, id, 300, 500);
  }
  const DecisionStatus& s = t.tick();
  ASSERT_TRUE(s.judged);
  const Check* increase = find(s.judgement, "error_rate_increase", "step");
  ASSERT_NE(increase, nullptr);
  EXPECT_GT(increase->design_effect, 5) << "a broken account's 20 failures are one user's";
  const Check* errors = find(s.judgement, "canary_error_rate", "step");
  ASSERT_NE(errors, nullptr);
  EXPECT_GT(errors->design_effect, 5);
}

TEST(UserBuckets, IndependentRequestsHaveADesignEffectNearOne) {
  UserBuckets b;
  std::mt19937_64 rng(9);
  std::bernoulli_distribution fails(0.05);
  for (std::uint64_t i = 0; i < 200'000; ++i) b.add(1, 3, user(i), fails(rng), false);
  const UserBuckets::Tally t = b.tally(1, 3);
  EXPECT_EQ(t.requests, 200'000u);
  EXPECT_LT(t.design_effect, 1.6);
}

TEST(UserBuckets, ClusteredFailuresHaveTheirDesignEffect) {
  // 1,000 users with 100 requests each, 2% of them failing every request: the error count's
  // variance is about 100 times the binomial's (1 + (m - 1) rho, m = 100, rho near 1).
  UserBuckets b;
  for (std::uint64_t u = 0; u < 1000; ++u)
    for (int k = 0; k < 100; ++k) b.add(0, 1, user(u), u % 50 == 0, false);
  const UserBuckets::Tally t = b.tally(0, 1);
  EXPECT_GT(t.design_effect, 30);
  EXPECT_LT(t.design_effect, 300);
}

TEST(UserBuckets, AHostileCheckpointIsRefusedAndChangesNothing) {
  UserBuckets b;
  b.add(0, 1, user(1), true, false);
  ByteWriter out;
  b.serialize(out);
  std::string bytes = std::move(out.out());
  ByteReader good(bytes);
  UserBuckets copy;
  ASSERT_TRUE(copy.deserialize(good));
  EXPECT_EQ(copy.tally(0, 1).errors, 1u);
  bytes[1] = static_cast<char>(0x7f);  // an index past the table
  ByteReader bad(bytes);
  EXPECT_FALSE(copy.deserialize(bad));
  EXPECT_EQ(copy.tally(0, 1).errors, 1u) << "unchanged";
  ByteReader cut(std::string_view(bytes).substr(0, 20));
  EXPECT_FALSE(copy.deserialize(cut));
}

}  // namespace
}  // namespace canary
