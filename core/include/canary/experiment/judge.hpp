// SPDX-License-Identifier: Apache-2.0
// An experiment's verdict on one metric (SPEC section 10a): for each treatment arm, its mean per
// user, the difference and relative lift against control with always-valid intervals
// (stats/effect_sequence.hpp), and whether the data prove an arm better. Alpha is split over
// the comparisons (Bonferroni: treatment arms x metrics), so the chance of any wrong verdict over
// the experiment's whole life, read as often as anyone likes, stays under alpha.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "canary/stats/effect_sequence.hpp"

namespace canary::experiment {

enum class Verdict : std::uint8_t { not_yet_proven, control_better, treatment_better };
std::string_view to_string(Verdict v);

struct ArmInput {
  stats::ArmSample sample;  // per-user values of the metric
  double share = 0;         // the arm's share of the experiment's traffic (any scale)
};

struct ArmJudgement {
  stats::Interval mean;
  stats::Interval difference;     // against control; control's own: [0, 0]
  stats::Interval relative_lift;  // likewise
  Verdict verdict = Verdict::not_yet_proven;
};

struct JudgeSettings {
  double alpha = 0.05;             // over every arm and metric of the experiment
  std::uint32_t metrics = 1;       // how many metrics share alpha
  std::uint64_t horizon = 100'000; // the users where the intervals are tightest
  std::uint64_t min_users_per_arm = 100;  // no verdict before: the intervals are asymptotic
};

// arms[0] is control. One judgement per arm, in order.
std::vector<ArmJudgement> judge_metric(const std::vector<ArmInput>& arms, const JudgeSettings& settings);

}  // namespace canary::experiment
