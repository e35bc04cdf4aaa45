// SPDX-License-Identifier: Apache-2.0
#include "canary/report/decision_json.hpp"

#include <cmath>

#include "canary/clock.hpp"
#include "canary/share.hpp"

namespace canary::report {

namespace {

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

nlohmann::json check_json(const Check& c) {
  nlohmann::json j = {{"check", c.name},
          {"window", c.window},
          {"value", number(c.value)},
          {"bound", number(c.bound)},
          {"threshold", number(c.threshold)},
          {"canary_samples", c.canary_samples},
          {"legacy_samples", c.legacy_samples},
          {"test", c.test},
          {"holds", c.holds},
          {"legacy_also_breaches", c.legacy_also_breaches},
          {"held_for_legacy", c.held_for_legacy}};
  if (!c.endpoint.empty()) j["endpoint"] = c.endpoint;
  if (c.design_effect > 1) j["design_effect"] = number(c.design_effect);
  if (c.window == "change") {  // a change detector: its statistic and alarm level, in nats
    j["log_evidence"] = number(c.log_evidence);
    j["log_evidence_level"] = number(c.log_evidence_level);
  }
  return j;
}

nlohmann::json decision_json(const DecisionStatus& d) {
  nlohmann::json gate = nlohmann::json::array(), triggers = nlohmann::json::array();
  for (const Check& c : d.judgement.gate) gate.push_back(check_json(c));
  for (const Check& c : d.judgement.triggers) triggers.push_back(check_json(c));
  nlohmann::json out = {
      {"judged", d.judged},
      {"judged_unix_ns", d.judged_unix_ns},
      {"gate_holds", d.judgement.gate_holds},
      {"rollback_proven", d.judgement.rollback},
      {"gate", gate},
      {"triggers", triggers},
      {"step",
       {{"sequence", d.step_sequence},
        {"started_unix_ns", d.step_started_unix_ns},
        {"bake_s", static_cast<double>(d.bake_ms) / 1000.0},
        {"gate_held_s", static_cast<double>(d.gate_held_ms) / 1000.0},
        {"next_share", d.next_step_bp ? nlohmann::json(static_cast<double>(*d.next_step_bp) / 100.0) : nlohmann::json()}}},
  };
  out["last_rollback_latency_ms"] = d.last_rollback_latency_ms ? nlohmann::json(*d.last_rollback_latency_ms) : nlohmann::json();
  out["decision_write_failures"] = d.decision_write_failures;
  if (!d.last_decision_write_failure.empty()) out["last_decision_write_failure"] = d.last_decision_write_failure;
  return out;
}

nlohmann::json srm_json(const SrmStatus& s, bool flagged) {
  nlohmann::json j = {{"detected", flagged},
                      {"observed", number(s.observed)},
                      {"expected", number(s.expected)},
                      {"requests", s.requests},
                      {"counts", "users, each by their first request"},
                      {"log_evidence", number(s.log_evidence)},
                      {"log_evidence_level", number(s.log_evidence_level)},
                      {"intervals_skipped", s.skipped_intervals}};
  if (!s.endpoint.empty()) j["endpoint"] = s.endpoint;
  return j;
}

nlohmann::json event_json(const Event& e) {
  nlohmann::json details = nlohmann::json::parse(e.details_json, nullptr, false);
  if (details.is_discarded()) details = e.details_json.empty() ? nlohmann::json::object() : nlohmann::json(e.details_json);
  nlohmann::json j = {{"seq", e.seq},
          {"time", utc_text(e.unix_ns)},
          {"unix_ns", e.unix_ns},
          {"kind", std::string(to_string(e.kind))},
          {"version", e.version_name},
          {"from", std::string(to_string(e.from))},
          {"to", std::string(to_string(e.to))},
          {"share_before", static_cast<double>(e.share_before_bp) / 100.0},
          {"share_after", static_cast<double>(e.share_after_bp) / 100.0},
          {"config_generation", e.config_generation},
          {"actor", e.actor},
          {"reason", e.reason},
          {"latency_ms", e.latency_ms},
          {"details", details}};
  if (e.lost_before > 0) j["events_lost_before"] = e.lost_before;
  return j;
}

std::string event_line(const Event& e) {
  // The version is named unless it is the two-version deployment's canary (the line as it was).
  const std::string who = e.version_name.empty() || e.version_name == "canary" ? "" : e.version_name + " ";
  std::string line = std::string(to_string(e.kind)) + " " + who + format_share_percent(e.share_before_bp) + "% -> " +
                     format_share_percent(e.share_after_bp) + "% by " + e.actor + ": " + e.reason;
  if (e.lost_before > 0) line += " (" + std::to_string(e.lost_before) + " earlier events were lost before delivery)";
  return line;
}

}  // namespace canary::report
