// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cmath>

#include "canary/experiment/judge.hpp"
#include "canary/stats/effect_sequence.hpp"

namespace canary {
namespace {

using experiment::ArmInput;
using experiment::JudgeSettings;
using experiment::Verdict;
using stats::ArmSample;

// n users, k of whom converted (a per-user 0/1 metric).
ArmSample conversions(std::uint64_t n, std::uint64_t k) {
  return {n, static_cast<double>(k), static_cast<double>(k)};
}

TEST(EffectSequence, AMeanSequenceIsUnboundedBeforeTwoValuesAndNarrowsAsTheyCome) {
  const double rho2 = stats::rho_squared_for(100'000, 0.05);
  EXPECT_TRUE(std::isinf(stats::mean_sequence(1, 0.1, 0.09, 0.05, rho2).upper));
  const auto small = stats::mean_sequence(1'000, 0.1, 0.09, 0.05, rho2);
  const auto large = stats::mean_sequence(100'000, 0.1, 0.09, 0.05, rho2);
  EXPECT_LT(small.lower, 0.1);
  EXPECT_GT(small.upper, 0.1);
  EXPECT_LT(large.upper - large.lower, small.upper - small.lower);
  // A smaller alpha is a wider sequence.
  const auto strict = stats::mean_sequence(100'000, 0.1, 0.09, 0.001, rho2);
  EXPECT_GT(strict.upper - strict.lower, large.upper - large.lower);
}

TEST(EffectSequence, TheDifferenceIsCenteredOnTheArmsMeansWhenTheArmsAreTheirShares) {
  // 50/50 and exactly half the users each: the weighted estimate is the plain difference.
  const auto d = stats::difference_interval(conversions(50'000, 5'000), conversions(50'000, 5'500), 50, 50, 0.05, 100'000);
  EXPECT_NEAR((d.lower + d.upper) / 2, 0.11 - 0.10, 1e-12);
  EXPECT_GT(d.lower, 0);
  // Shares of any scale: only the ratio counts.
  const auto same = stats::difference_interval(conversions(50'000, 5'000), conversions(50'000, 5'500), 0.5, 0.5, 0.05, 100'000);
  EXPECT_DOUBLE_EQ(same.lower, d.lower);
}

TEST(EffectSequence, TheRelativeLiftIsUnboundedWhileControlsMeanMayBeZero) {
  const auto none = stats::relative_lift_interval(conversions(1'000, 0), conversions(1'000, 30), 50, 50, 0.05, 100'000);
  EXPECT_TRUE(std::isinf(none.lower) && std::isinf(none.upper));
  const auto lift = stats::relative_lift_interval(conversions(50'000, 5'000), conversions(50'000, 5'500), 50, 50, 0.05, 100'000);
  EXPECT_LT(lift.lower, 0.10);
  EXPECT_GT(lift.upper, 0.10);
  EXPECT_GT(lift.lower, 0);
}

TEST(ExperimentJudge, NoVerdictBeforeTheMinimumUsersAndTheSignDecidesWhich) {
  JudgeSettings s;
  std::vector<ArmInput> arms = {{conversions(99, 0), 50}, {conversions(99, 99), 50}};
  EXPECT_EQ(experiment::judge_metric(arms, s)[1].verdict, Verdict::not_yet_proven);
  arms = {{conversions(50'000, 5'000), 50}, {conversions(50'000, 5'500), 50}};
  const auto better = experiment::judge_metric(arms, s);
  EXPECT_EQ(better[1].verdict, Verdict::treatment_better);
  EXPECT_EQ(better[0].difference.lower, 0);
  EXPECT_EQ(better[0].verdict, Verdict::not_yet_proven);
  arms = {{conversions(50'000, 5'500), 50}, {conversions(50'000, 5'000), 50}};
  EXPECT_EQ(experiment::judge_metric(arms, s)[1].verdict, Verdict::control_better);
  EXPECT_EQ(experiment::to_string(Verdict::control_better), "control_better");
}

TEST(ExperimentJudge, AlphaIsSplitOverTreatmentArmsAndMetrics) {
  const std::vector<ArmInput> two = {{conversions(20'000, 2'000), 50}, {conversions(20'000, 2'150), 50}};
  JudgeSettings one_metric;
  JudgeSettings five_metrics;
  five_metrics.metrics = 5;
  const auto a = experiment::judge_metric(two, one_metric)[1].difference;
  const auto b = experiment::judge_metric(two, five_metrics)[1].difference;
  EXPECT_GT(b.upper - b.lower, a.upper - a.lower);
}

}  // namespace
}  // namespace canary
