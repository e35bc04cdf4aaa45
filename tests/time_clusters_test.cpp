// SPDX-License-Identifier: Apache-2.0
// The time design effect (decision/time_clusters.hpp) and what the judge does with it: steady
// traffic is worth what its requests are, a burst is worth far less, and no absolute rate bound
// holds on a stretch younger than its minimum of slices.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "canary/decision/judge.hpp"
#include "canary/decision/time_clusters.hpp"

namespace canary {
namespace {

TEST(TimeClusters, SteadyTrafficIsWorthItsRequests) {
  std::mt19937_64 rng(3);
  TimeClusters t;
  for (int s = 0; s < 1800; ++s) t.add(100, std::binomial_distribution<std::uint64_t>(100, 0.02)(rng), 0, 1.0);
  EXPECT_EQ(t.slices(), 180u);
  EXPECT_LT(t.design_effect(), 1.3);
  EXPECT_DOUBLE_EQ(t.unavailable_design_effect(), 1.0);  // no unavailable response: nothing to estimate
}

TEST(TimeClusters, BurstsAreWorthFarLessThanTheirRequests) {
  std::mt19937_64 rng(4);
  TimeClusters t;
  for (int s = 0; s < 1800; ++s) {
    const bool burst = s % 250 >= 240;  // 10 s of 50% errors every 250 s
    t.add(10, std::binomial_distribution<std::uint64_t>(10, burst ? 0.5 : 0.005)(rng), 0, 1.0);
  }
  EXPECT_GT(t.design_effect(), 10);
}

TEST(TimeClusters, TheSliceUnderWayCountsAndACheckpointKeepsEveryThing) {
  TimeClusters t;
  for (int s = 0; s < 60; ++s) t.add(10, 0, 0, 1.0);
  t.add(10, 10, 10, 1.0);  // a burst under way in the seventh slice
  EXPECT_EQ(t.slices(), 7u);
  EXPECT_GT(t.design_effect(), 5);
  ByteWriter out;
  t.serialize(out);
  TimeClusters back;
  ByteReader in(out.out());
  ASSERT_TRUE(back.deserialize(in));
  EXPECT_EQ(back.slices(), 7u);
  EXPECT_DOUBLE_EQ(back.design_effect(), t.design_effect());
  EXPECT_DOUBLE_EQ(back.unavailable_design_effect(), t.unavailable_design_effect());
}

TEST(TimeClusters, AHostileCheckpointIsRefusedAndChangesNothing) {
  TimeClusters t;
  for (int s = 0; s < 30; ++s) t.add(10, s % 10 == 0 ? 5 : 0, 0, 1.0);
  const double before = t.design_effect();
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), -1.0, std::numeric_limits<double>::infinity()}) {
    ByteWriter out;
    out.u64(3);
    for (int i = 0; i < 12; ++i) out.f64(i == 4 ? bad : 1.0);
    ByteReader in(out.out());
    EXPECT_FALSE(t.deserialize(in));
    EXPECT_DOUBLE_EQ(t.design_effect(), before);
  }
  ByteWriter truncated;
  truncated.u64(3);
  ByteReader in(truncated.out());
  EXPECT_FALSE(t.deserialize(in));
}

// 10% errors against the 5% limit, every second for `seconds`.
Evidence steady_errors(std::uint64_t seconds) {
  TimeClusters t;
  Evidence e;
  e.window = "step";
  for (std::uint64_t s = 0; s < seconds; ++s) t.add(100, 10, 0, 1.0);
  e.canary.requests = e.legacy.requests = 100 * seconds;
  e.canary.errors = 10 * seconds;
  e.canary.time_design_effect = t.design_effect();
  e.canary.time_slices = t.slices();
  e.legacy.time_slices = t.slices();
  return e;
}

bool error_trigger_holds(const Evidence& e) {
  JudgeInput in;
  in.step = &e;
  for (const Check& c : judge(Policy{}, in, JudgeOptions{}).triggers)
    if (c.name == "canary_error_rate") return c.holds;
  return false;
}

TEST(TimeClusters, NoAbsoluteBoundHoldsBeforeAMinuteOfSlices) {
  EXPECT_FALSE(error_trigger_holds(steady_errors(50)));  // 5,000 requests at 10%: proven, but 5 slices
  EXPECT_TRUE(error_trigger_holds(steady_errors(60)));
  Evidence unmeasured = steady_errors(50);  // a fleet's evidence: time not measured
  unmeasured.canary.time_slices = unmeasured.legacy.time_slices = 0;
  EXPECT_TRUE(error_trigger_holds(unmeasured));
}

}  // namespace
}  // namespace canary
