// SPDX-License-Identifier: Apache-2.0
#include "canary/experiment/judge.hpp"

#include <algorithm>

namespace canary::experiment {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::control_better: return "control_better";
    case Verdict::treatment_better: return "treatment_better";
    default: return "not_yet_proven";
  }
}

std::vector<ArmJudgement> judge_metric(const std::vector<ArmInput>& arms, const JudgeSettings& s) {
  std::vector<ArmJudgement> out(arms.size());
  if (arms.empty()) return out;
  const auto comparisons = static_cast<double>(std::max<std::size_t>(arms.size() - 1, 1) * std::max<std::uint32_t>(s.metrics, 1));
  const double alpha = s.alpha / comparisons;
  // Each arm's mean is reported at the same corrected alpha; the means decide nothing.
  for (std::size_t i = 0; i < arms.size(); ++i) out[i].mean = stats::arm_mean_interval(arms[i].sample, alpha, s.horizon);
  out[0].difference = out[0].relative_lift = {0, 0};
  const ArmInput& control = arms[0];
  for (std::size_t i = 1; i < arms.size(); ++i) {
    const ArmInput& t = arms[i];
    ArmJudgement& j = out[i];
    j.difference = stats::difference_interval(control.sample, t.sample, control.share, t.share, alpha, s.horizon);
    j.relative_lift = stats::relative_lift_interval(control.sample, t.sample, control.share, t.share, alpha, s.horizon);
    if (control.sample.users < s.min_users_per_arm || t.sample.users < s.min_users_per_arm) continue;
    if (j.difference.lower > 0) j.verdict = Verdict::treatment_better;
    if (j.difference.upper < 0) j.verdict = Verdict::control_better;
  }
  return out;
}

}  // namespace canary::experiment
