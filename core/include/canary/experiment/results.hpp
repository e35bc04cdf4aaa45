// SPDX-License-Identifier: Apache-2.0
// An experiment's results as people and scripts read them (SPEC section 10a): per arm its users
// and exposures, each metric's mean with an always-valid interval, the difference and relative
// lift against control, the verdicts, and the sample-ratio check of the arms' users. Computed
// from the published totals (tracker.hpp) by whoever asks: the admin API, /metrics and
// `canary-ctl experiment show` show the same numbers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "canary/experiment/judge.hpp"
#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {
class Segment;
}

namespace canary::experiment {

inline constexpr double kAlpha = 0.05;     // every arm and metric of one experiment together
inline constexpr double kSrmAlpha = 0.001;  // the arms' split, as for versions (SPEC section 10)

struct MetricResult {
  std::string name;
  MetricKind kind = MetricKind::conversion;
  std::uint64_t events = 0;
  double mean = 0;  // per user
  ArmJudgement judgement;
};

struct ArmResult {
  std::string name;
  double share = 0;  // of the experiment's users, 0..1
  std::string version;  // the version it routes to; empty: a flag
  std::uint64_t users = 0;
  std::uint64_t exposures = 0;
  std::vector<MetricResult> metrics;
  Verdict verdict = Verdict::not_yet_proven;  // the first metric's (the primary one)
};

struct SrmResult {
  bool detected = false;
  std::vector<double> observed;  // each arm's share of the users seen
  std::uint64_t users = 0;
};

struct Results {
  std::uint32_t slot = 0;
  std::string name;
  ExperimentState state = ExperimentState::free;
  std::string reason;
  std::vector<ArmResult> arms;
  SrmResult srm;
  ExperimentTotals totals{};  // the counters as published
  bool have_totals = false;   // false: no aggregator has published any yet
  std::uint32_t comparisons = 1;
};

// `totals` may be null (nothing published, or for another experiment in the slot).
Results compute(const ConfigData& config, std::uint32_t slot, const ExperimentTotals* totals);
nlohmann::json to_json(const Results& r, const ConfigData& config);
// Every experiment in the config, in slot order, briefly (state, users, arms' verdicts).
nlohmann::json list_json(const ConfigData& config, const ExperimentResultsData* published);
// The totals of this slot's current experiment, or null.
const ExperimentTotals* totals_for(const ConfigData& config, std::uint32_t slot, const ExperimentResultsData* published);

// The same, read from a segment now: its config and the totals its aggregator last published.
Expected<nlohmann::json> show_json(const Segment& segment, std::string_view name);
Expected<nlohmann::json> list_json(const Segment& segment);

}  // namespace canary::experiment
