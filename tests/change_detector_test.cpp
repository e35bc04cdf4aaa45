// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "canary/decision/change_watch.hpp"
#include "canary/stats/change_detector.hpp"

namespace canary {
namespace {

using stats::RateChangeDetector;

// The guarantee, checked with a loose level: at the limit itself (the hardest null), the share of
// sequences that ever alarm within T seconds stays under T / c.
TEST(ChangeDetector, AtTheLimitFalseAlarmsStayUnderHorizonOverLevel) {
  const double horizon_s = 600, alpha = 0.2;
  const double level = stats::change_alarm_log_level(horizon_s, alpha);
  std::mt19937_64 rng(7);
  int alarms = 0;
  const int sequences = 400;
  for (int s = 0; s < sequences; ++s) {
    RateChangeDetector d(0.05);
    for (int t = 0; t < 600; ++t) {
      d.update(20, std::binomial_distribution<std::uint64_t>(20, 0.05)(rng), 1.0);
      if (d.log_statistic() >= level) {
        ++alarms;
        break;
      }
    }
  }
  EXPECT_LE(alarms, sequences * alpha);
}

TEST(ChangeDetector, ARateThatRisesIsDetectedAndItsNewRateEstimated) {
  std::mt19937_64 rng(8);
  RateChangeDetector d(0.05);
  const double level = stats::change_alarm_log_level(86400, 0.0005);
  for (int t = 0; t < 3600; ++t) d.update(10, std::binomial_distribution<std::uint64_t>(10, 0.005)(rng), 1.0);
  EXPECT_LT(d.log_statistic(), level);
  int seconds = 0;
  while (d.log_statistic() < level && seconds < 3600) {
    d.update(10, std::binomial_distribution<std::uint64_t>(10, 0.15)(rng), 1.0);
    ++seconds;
  }
  EXPECT_LT(seconds, 600);  // 15% against 5%: a few hundred requests
  EXPECT_GT(d.likely_rate(), 0.09);
}

TEST(ChangeDetector, ABurstOfTotalFailureIsNoAlarmByItselfButARateThatStaysIs) {
  // A block adds at most kBlockLogCap nats: 10 s of every request failing, then quiet.
  RateChangeDetector d(0.05);
  const double level = stats::change_alarm_log_level(86400, 0.0005);
  for (int t = 0; t < 600; ++t) d.update(100, 0, 1.0);
  const double resting = d.log_statistic();  // where a quiet stream keeps it
  for (int t = 0; t < 10; ++t) d.update(100, 100, 1.0);
  EXPECT_LT(d.log_statistic(), level);
  EXPECT_LE(d.log_statistic(), std::log(2 * RateChangeDetector::kBlockSeconds) + 2 * RateChangeDetector::kBlockLogCap);
  for (int t = 0; t < 305; ++t) d.update(100, 0, 1.0);  // to the same point of a block as `resting`
  EXPECT_LT(d.log_statistic(), resting + 0.1) << "the quiet minutes after it take it back";
  // The same failure for three minutes is an alarm.
  for (int t = 0; t < 180; ++t) d.update(100, 100, 1.0);
  EXPECT_GE(d.log_statistic(), level);
}

TEST(ChangeDetector, AWatchKeepsItsEvidenceThroughACheckpointAndResetsOnNewLimits) {
  Policy policy;
  ChangeWatch watch(policy);
  const IntervalCounts bad[2] = {{100, 0, 0, 100, 0}, {100, 30, 30, 100, 40}};
  for (int i = 0; i < 150; ++i) watch.update(bad, 1.0);  // ten blocks, each at the cap
  const double before = watch.detector(1, WatchedRate::errors).log_statistic();
  EXPECT_GT(before, 20);
  ByteWriter out;
  watch.serialize(out);
  ChangeWatch restored;
  ByteReader in(out.out());
  ASSERT_TRUE(restored.deserialize(in));
  EXPECT_DOUBLE_EQ(restored.detector(1, WatchedRate::errors).log_statistic(), before);
  policy.rollback.max_error_rate_percent = 10;
  restored.adopt(policy);
  EXPECT_LT(restored.detector(1, WatchedRate::errors).log_statistic(), 0.0);  // against another limit: gone
  EXPECT_GT(restored.detector(1, WatchedRate::unavailable).log_statistic(), 20);  // same limit: kept
}

}  // namespace
}  // namespace canary
