// SPDX-License-Identifier: Apache-2.0
#include "canary/experiment/results.hpp"

#include <cmath>

#include "canary/config.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/experiment/tracker.hpp"
#include "canary/fixed_text.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/stats/split_test.hpp"
#include "canary/versions.hpp"

namespace canary::experiment {

namespace {

using nlohmann::json;

// JSON has no infinity: an unbounded side is null.
json bound(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json interval(const stats::Interval& i) { return json::array({bound(i.lower), bound(i.upper)}); }

// One always-valid test per arm (its users against the rest), at kSrmAlpha split over the arms.
SrmResult srm_of(const ExperimentEntry& e, const ExperimentTotals& t) {
  SrmResult srm;
  for (std::uint32_t a = 0; a < e.arm_count; ++a) srm.users += t.arms[a].users;
  const double threshold = std::log(e.arm_count / kSrmAlpha);
  for (std::uint32_t a = 0; a < e.arm_count; ++a) {
    srm.observed.push_back(srm.users > 0 ? static_cast<double>(t.arms[a].users) / static_cast<double>(srm.users) : 0.0);
    stats::SplitTest test;
    test.add(e.arms[a].share_bp / 10000.0, srm.users, t.arms[a].users);
    if (test.log_evidence() >= threshold) srm.detected = true;
  }
  return srm;
}

}  // namespace

const ExperimentTotals* totals_for(const ConfigData& config, std::uint32_t slot, const ExperimentResultsData* published) {
  if (published == nullptr || slot >= kMaxExperiments) return nullptr;
  const ExperimentTotals& t = published->experiments[slot];
  return t.created_unix_ns != 0 && t.created_unix_ns == config.experiments[slot].created_unix_ns ? &t : nullptr;
}

Results compute(const ConfigData& config, std::uint32_t slot, const ExperimentTotals* totals) {
  const ExperimentEntry& e = config.experiments[slot];
  Results r;
  r.slot = slot;
  r.name = std::string(text_of(e.name));
  r.state = static_cast<ExperimentState>(e.state);
  r.reason = std::string(text_of(e.reason));
  r.have_totals = totals != nullptr;
  if (totals != nullptr) r.totals = *totals;
  const ExperimentTotals& t = r.totals;
  const std::uint32_t metrics = e.metric_count;
  r.comparisons = std::max<std::uint32_t>(e.arm_count - 1, 1) * std::max<std::uint32_t>(metrics, 1);
  for (std::uint32_t a = 0; a < e.arm_count; ++a) {
    ArmResult arm;
    arm.name = std::string(text_of(e.arms[a].name));
    arm.share = e.arms[a].share_bp / 10000.0;
    if (e.arms[a].version != kArmNoVersion) arm.version = std::string(version_name(config, e.arms[a].version));
    arm.users = t.arms[a].users;
    arm.exposures = t.arms[a].exposures;
    r.arms.push_back(std::move(arm));
  }
  JudgeSettings settings;
  settings.alpha = kAlpha;
  settings.metrics = std::max<std::uint32_t>(metrics, 1);
  for (std::uint32_t m = 0; m < metrics; ++m) {
    std::vector<ArmInput> inputs;
    for (std::uint32_t a = 0; a < e.arm_count; ++a) {
      const ArmMetricTotals& mt = t.arms[a].metrics[m];
      inputs.push_back({{t.arms[a].users, mt.sum, mt.sum_squares}, e.arms[a].share_bp / 10000.0});
    }
    const std::vector<ArmJudgement> judged = judge_metric(inputs, settings);
    for (std::uint32_t a = 0; a < e.arm_count; ++a) {
      MetricResult mr;
      mr.name = std::string(text_of(e.metrics[m].name));
      mr.kind = static_cast<MetricKind>(e.metrics[m].kind);
      mr.events = t.arms[a].metrics[m].events;
      mr.mean = t.arms[a].users > 0 ? t.arms[a].metrics[m].sum / static_cast<double>(t.arms[a].users) : 0.0;
      mr.judgement = judged[a];
      if (m == 0) r.arms[a].verdict = judged[a].verdict;
      r.arms[a].metrics.push_back(std::move(mr));
    }
  }
  r.srm = srm_of(e, t);
  return r;
}

json to_json(const Results& r, const ConfigData& config) {
  const ExperimentEntry& e = config.experiments[r.slot];
  json arms = json::array();
  for (const ArmResult& a : r.arms) {
    json metrics = json::object();
    for (const MetricResult& m : a.metrics)
      metrics[m.name] = {{"kind", to_string(m.kind)},
                         {"events", m.events},
                         {"mean", m.mean},
                         {"mean_interval", interval(m.judgement.mean)},
                         {"difference", interval(m.judgement.difference)},
                         {"relative_lift", interval(m.judgement.relative_lift)},
                         {"verdict", to_string(m.judgement.verdict)}};
    json arm = {{"name", a.name},
                {"share_percent", format_share_percent(static_cast<std::uint32_t>(std::lround(a.share * 10000)))},
                {"users", a.users},
                {"exposures", a.exposures},
                {"metrics", metrics},
                {"verdict", to_string(a.verdict)}};
    if (!a.version.empty()) arm["version"] = a.version;
    arms.push_back(std::move(arm));
  }
  json endpoints = json::array();
  for (std::uint32_t id = 1; id < config.endpoint_count && id < 128; ++id)
    if ((e.endpoints_on[id / 64] >> (id % 64)) & 1) endpoints.push_back(std::string(text_of(config.endpoints[id].path)));
  json metrics = json::array();
  for (std::uint32_t m = 0; m < e.metric_count; ++m)
    metrics.push_back({{"name", std::string(text_of(e.metrics[m].name))}, {"kind", to_string(static_cast<MetricKind>(e.metrics[m].kind))}});
  const ExperimentTotals& t = r.totals;
  return {{"name", r.name},
          {"state", to_string(r.state)},
          {"reason", r.reason},
          {"created_unix_ns", e.created_unix_ns},
          {"started_unix_ns", e.started_unix_ns},
          {"ended_unix_ns", e.ended_unix_ns},
          {"exposure_percent", format_share_percent(e.exposure_bp)},
          {"endpoints", endpoints},
          {"metrics", metrics},
          {"arms", arms},
          {"alpha", kAlpha},
          {"comparisons", r.comparisons},
          {"srm", {{"detected", r.srm.detected}, {"observed", r.srm.observed}, {"users", r.srm.users}, {"alpha", kSrmAlpha}}},
          {"aggregated", r.have_totals},
          {"records_dropped", t.records_dropped},
          {"users_untracked", t.users_untracked},
          {"records_ignored", t.records_ignored},
          {"arm_mismatches", t.arm_mismatches},
          {"records_lost", t.records_lost}};
}

json list_json(const ConfigData& config, const ExperimentResultsData* published) {
  json out = json::array();
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    if (config.experiments[x].state == static_cast<std::uint8_t>(ExperimentState::free)) continue;
    const Results r = compute(config, x, totals_for(config, x, published));
    json arms = json::array();
    for (const ArmResult& a : r.arms) arms.push_back({{"name", a.name}, {"users", a.users}, {"verdict", to_string(a.verdict)}});
    out.push_back({{"name", r.name}, {"state", to_string(r.state)}, {"arms", arms}, {"srm_detected", r.srm.detected}});
  }
  return out;
}

namespace {

struct Published {
  std::unique_ptr<ConfigData> config = std::make_unique<ConfigData>();
  std::unique_ptr<ExperimentResultsData> totals = std::make_unique<ExperimentResultsData>();
  bool have_totals = false;
};

Expected<Published> read_published(const Segment& segment) {
  Published p;
  if (!read_config(segment.config(), *p.config, segment.geometry().params.endpoint_capacity).ok)
    return Status{Errc::corrupt, "segment '" + segment.name() + "' has no valid config"};
  p.have_totals = read_results(segment, *p.totals);
  return p;
}

}  // namespace

Expected<nlohmann::json> show_json(const Segment& segment, std::string_view name) {
  auto p = read_published(segment);
  if (!p) return p.status();
  auto slot = pick_experiment(*p->config, name);
  if (!slot) return slot.status();
  const Results r = compute(*p->config, *slot, totals_for(*p->config, *slot, p->have_totals ? p->totals.get() : nullptr));
  return to_json(r, *p->config);
}

Expected<nlohmann::json> list_json(const Segment& segment) {
  auto p = read_published(segment);
  if (!p) return p.status();
  return list_json(*p->config, p->have_totals ? p->totals.get() : nullptr);
}

}  // namespace canary::experiment
