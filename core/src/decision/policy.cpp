// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/policy.hpp"
#include "canary/duration.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "canary/endpoint_template.hpp"
#include "canary/share.hpp"

namespace canary {

namespace {

// Thrown inside the parser only, turned into a Status at its edge.
struct PolicyError {
  YAML::Mark mark;
  std::string field;
  std::string problem;
};

[[noreturn]] void fail(const YAML::Node& node, const std::string& field, const std::string& problem) {
  throw PolicyError{node.Mark(), field, problem};
}

void only_keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& known) {
  if (!map.IsMap()) fail(map, where, "must be a mapping");
  std::set<std::string> seen;
  for (const auto& item : map) {
    const std::string key = item.first.Scalar();
    // yaml-cpp keeps both pairs of a duplicated key and answers lookups with the first: a second
    // `max_error_rate` further down would be ignored without a word.
    if (!seen.insert(key).second) fail(item.first, where.empty() ? key : where + "." + key, "appears twice");
    if (!known.count(key)) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      fail(item.first, where.empty() ? key : where + "." + key, "unknown field (known: " + list + ")");
    }
  }
}

double number(const YAML::Node& n, const std::string& field, double min, double max, bool min_exclusive = false) {
  double v = 0;
  const std::string text = n.IsScalar() ? n.Scalar() : "";
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    fail(n, field, "'" + text + "' is not a number");
  if (v < min || v > max || (min_exclusive && v == min)) {
    std::ostringstream range;
    range << (min_exclusive ? "above " : "from ") << min << (min_exclusive ? " and at most " : " to ") << max;
    fail(n, field, "'" + text + "' must be " + range.str());
  }
  return v;
}

// A count: digits only (no sign, point or exponent), so "1000.5" is refused, not truncated.
std::uint64_t whole_number(const YAML::Node& n, const std::string& field, std::uint64_t max) {
  const std::string text = n.IsScalar() ? n.Scalar() : "";
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    fail(n, field, "'" + text + "' is not a whole number");
  if (v > max) fail(n, field, "'" + text + "' must be at most " + std::to_string(max));
  return v;
}

// A percentage: a plain decimal with at most two decimals, like every share.
double percent(const YAML::Node& n, const std::string& field, double max) {
  const std::string text = n.IsScalar() ? n.Scalar() : "";
  const auto point = text.find('.');
  const bool plain = !text.empty() && text.find_first_not_of("0123456789.") == std::string::npos &&
                     text.find('.', point == std::string::npos ? text.size() : point + 1) == std::string::npos &&
                     text.front() != '.' && text.back() != '.';
  if (!plain) fail(n, field, "'" + text + "' is not a percentage such as 5 or 99.5");
  if (point != std::string::npos && text.size() - point - 1 > 2)
    fail(n, field, "'" + text + "' has more than two decimals");
  return number(n, field, 0, max, true);
}

bool flag(const YAML::Node& n, const std::string& field) {
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) fail(n, field, "must be true or false");
  return v;
}

// A duration (canary/duration.hpp) within [min_ms, max_ms].
std::uint64_t duration_ms(const YAML::Node& n, const std::string& field, std::uint64_t min_ms, std::uint64_t max_ms) {
  const std::string text = n.IsScalar() ? n.Scalar() : "";
  const std::optional<std::uint64_t> parsed = parse_duration_ms(text);
  if (!parsed) fail(n, field, "'" + text + "' is not a duration such as 30s, 5m or 1h");
  const std::uint64_t ms = *parsed;
  if (ms < min_ms || ms > max_ms)
    fail(n, field, "'" + text + "' must be from " + std::to_string(min_ms / 1000.0).substr(0, 5) + " s to " +
                       std::to_string(max_ms / 1000) + " s");
  return ms;
}

std::uint32_t percent_bp(const YAML::Node& n, const std::string& field) {
  auto bp = parse_share_percent(n.IsScalar() ? n.Scalar() : "");
  if (!bp || *bp == 0) fail(n, field, bp ? "a step of 0% sends nobody to the canary" : bp.status().message());
  return *bp;
}

void read_gate(const YAML::Node& n, GatePolicy& g) {
  only_keys(n, "gate", {"max_error_rate_increase", "max_p95_increase", "max_p99_increase", "min_canary_requests", "alpha",
                        "max_step_duration"});
  if (n["max_error_rate_increase"])
    g.max_error_rate_increase_points = percent(n["max_error_rate_increase"], "gate.max_error_rate_increase", 100);
  if (n["max_p95_increase"]) g.max_p95_increase = number(n["max_p95_increase"], "gate.max_p95_increase", 0, 10, true);
  if (n["max_p99_increase"]) g.max_p99_increase = number(n["max_p99_increase"], "gate.max_p99_increase", 0, 10, true);
  if (n["min_canary_requests"])
    g.min_canary_requests = whole_number(n["min_canary_requests"], "gate.min_canary_requests", 1'000'000'000);
  if (n["alpha"]) g.alpha = number(n["alpha"], "gate.alpha", 0, 0.5, true);
  if (n["max_step_duration"])
    g.max_step_duration_ms = duration_ms(n["max_step_duration"], "gate.max_step_duration", 1000, 365 * 86'400'000ull);
}

void read_rollback(const YAML::Node& n, RollbackPolicy& r) {
  only_keys(n, "rollback", {"window", "max_error_rate", "max_p95_ms", "max_p99_ms", "min_availability", "when_gate_cannot_pass",
                            "count_4xx_as_errors", "alpha", "when_legacy_also_breaches", "change_horizon", "scope"});
  if (n["window"]) r.window_ms = duration_ms(n["window"], "rollback.window", 10'000, 86'400'000);
  if (n["max_error_rate"]) r.max_error_rate_percent = percent(n["max_error_rate"], "rollback.max_error_rate", 100);
  if (n["max_p95_ms"]) r.max_p95_ms = number(n["max_p95_ms"], "rollback.max_p95_ms", 0, 3.6e6, true);
  if (n["max_p99_ms"]) r.max_p99_ms = number(n["max_p99_ms"], "rollback.max_p99_ms", 0, 3.6e6, true);
  if (n["min_availability"])
    r.min_availability_percent = percent(n["min_availability"], "rollback.min_availability", 100);
  if (n["when_gate_cannot_pass"]) r.when_gate_cannot_pass = flag(n["when_gate_cannot_pass"], "rollback.when_gate_cannot_pass");
  if (n["count_4xx_as_errors"]) r.count_4xx_as_errors = flag(n["count_4xx_as_errors"], "rollback.count_4xx_as_errors");
  if (n["alpha"]) r.alpha = number(n["alpha"], "rollback.alpha", 0, 0.5, true);
  if (n["change_horizon"])
    r.change_horizon_ms = duration_ms(n["change_horizon"], "rollback.change_horizon", 60'000, 365 * 86'400'000ull);
  if (const YAML::Node w = n["when_legacy_also_breaches"]) {
    const std::string text = w.IsScalar() ? w.Scalar() : "";
    if (text == "rollback")
      r.when_legacy_also_breaches = RollbackPolicy::WhenLegacyAlsoBreaches::rollback;
    else if (text == "hold")
      r.when_legacy_also_breaches = RollbackPolicy::WhenLegacyAlsoBreaches::hold;
    else
      fail(w, "rollback.when_legacy_also_breaches", "'" + text + "' must be rollback or hold");
  }
}

// rollback.scope lives in the fleet part of the policy: it means nothing on one host.
void read_scope(const YAML::Node& n, FleetPolicy& f) {
  const std::string text = n.IsScalar() ? n.Scalar() : "";
  if (text == "fleet")
    f.rollback_scope = FleetPolicy::Scope::fleet;
  else if (text == "region")
    f.rollback_scope = FleetPolicy::Scope::region;
  else
    fail(n, "rollback.scope", "'" + text + "' must be region or fleet");
}

void read_regions(const YAML::Node& n, FleetPolicy& f) {
  if (!n.IsSequence() || n.size() == 0 || n.size() > 32) fail(n, "regions", "must be a list of 1 to 32 waves");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string where = "regions[" + std::to_string(i) + "]";
    only_keys(n[i], where, {"wave", "hold_at"});
    const YAML::Node wave = n[i]["wave"];
    if (!wave || !wave.IsSequence() || wave.size() == 0) fail(n[i], where + ".wave", "must be a list of regions");
    WavePolicy w;
    for (std::size_t j = 0; j < wave.size(); ++j) {
      const std::string region = wave[j].IsScalar() ? wave[j].Scalar() : "";
      bool ok = !region.empty() && region.size() <= 64;
      for (char ch : region) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-');
      if (!ok) fail(wave[j], where + ".wave", "'" + region + "' is not a region name ([A-Za-z0-9._-], 1-64)");
      if (!seen.insert(region).second) fail(wave[j], where + ".wave", "region '" + region + "' is in two waves");
      w.regions.push_back(region);
    }
    if (n[i]["hold_at"]) {
      w.hold_at_bp = percent_bp(n[i]["hold_at"], where + ".hold_at");
      if (w.hold_at_bp == 0) fail(n[i]["hold_at"], where + ".hold_at", "must be above 0%");
    }
    f.waves.push_back(std::move(w));
  }
}

void read_fleet(const YAML::Node& n, FleetPolicy& f) {
  only_keys(n, "fleet", {"etcd_lost"});
  if (const YAML::Node lost = n["etcd_lost"]) {
    const std::string text = lost.IsScalar() ? lost.Scalar() : "";
    constexpr std::string_view kAfter = "legacy_after ";
    if (text == "keep") {
      f.etcd_lost_legacy_after_ms = 0;
    } else if (text.rfind(kAfter, 0) == 0) {
      const YAML::Node d(text.substr(kAfter.size()));
      f.etcd_lost_legacy_after_ms = duration_ms(d, "fleet.etcd_lost", 1000, 86'400'000);
    } else {
      fail(lost, "fleet.etcd_lost", "'" + text + "' must be keep or legacy_after DURATION (e.g. legacy_after 30s)");
    }
  }
}

void read_ramp(const YAML::Node& n, RampPolicy& r) {
  only_keys(n, "ramp", {"steps", "bake", "require_approval"});
  if (n["steps"]) {
    const YAML::Node steps = n["steps"];
    if (!steps.IsSequence() || steps.size() == 0 || steps.size() > 16) fail(steps, "ramp.steps", "must be a list of 1 to 16 percentages");
    r.steps_bp.clear();
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const std::uint32_t bp = percent_bp(steps[i], "ramp.steps[" + std::to_string(i) + "]");
      if (!r.steps_bp.empty() && bp <= r.steps_bp.back()) fail(steps[i], "ramp.steps", "steps must rise");
      r.steps_bp.push_back(bp);
    }
  }
  if (n["bake"]) {
    const YAML::Node bake = n["bake"];
    r.bake_ms.clear();
    if (bake.IsSequence()) {
      if (bake.size() != r.steps_bp.size()) fail(bake, "ramp.bake", "needs one duration per step, or one for all");
      for (std::size_t i = 0; i < bake.size(); ++i)
        r.bake_ms.push_back(duration_ms(bake[i], "ramp.bake[" + std::to_string(i) + "]", 0, 30 * 86'400'000ull));
    } else {
      r.bake_ms.push_back(duration_ms(bake, "ramp.bake", 0, 30 * 86'400'000ull));
    }
  }
  if (n["require_approval"]) r.require_approval = flag(n["require_approval"], "ramp.require_approval");
}

void read_blue_green(const YAML::Node& n, BlueGreenPolicy& b) {
  only_keys(n, "blue_green", {"smoke", "bake"});
  if (n["smoke"]) {
    b.smoke_bp = percent_bp(n["smoke"], "blue_green.smoke");
    if (b.smoke_bp >= kMaxShareBp) fail(n["smoke"], "blue_green.smoke", "must be below 100%: the switch is what sends everyone");
  }
  if (n["bake"]) b.bake_ms = duration_ms(n["bake"], "blue_green.bake", 0, 30 * 86'400'000ull);
}

Strategy strategy(const YAML::Node& n) {
  if (n.IsScalar() && n.Scalar() == "canary") return Strategy::canary;
  if (n.IsScalar() && n.Scalar() == "blue_green") return Strategy::blue_green;
  fail(n, "strategy", "must be canary or blue_green");
}

void read_endpoints(const YAML::Node& n, std::vector<std::pair<std::string, EndpointRole>>& out) {
  if (!n.IsMap()) fail(n, "endpoints", "must map endpoint templates to critical or ignore");
  for (const auto& entry : n) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    const std::string field = "endpoints." + key;
    Expected<std::string> normalized = normalize_template(key);
    if (!normalized) fail(entry.first, field, normalized.status().message());
    const std::string role = entry.second.IsScalar() ? entry.second.Scalar() : "";
    if (role != "critical" && role != "ignore") fail(entry.second, field, "'" + role + "' must be critical or ignore");
    for (const auto& [known, _] : out)
      if (known == *normalized) fail(entry.first, field, "is listed twice");
    out.emplace_back(*normalized, role == "critical" ? EndpointRole::critical : EndpointRole::ignore);
  }
}

void read_fail_safe(const YAML::Node& n, FailSafePolicy& f) {
  only_keys(n, "fail_safe", {"enabled", "stale_heartbeat"});
  if (n["enabled"]) f.enabled = flag(n["enabled"], "fail_safe.enabled");
  if (n["stale_heartbeat"]) f.stale_heartbeat_ms = duration_ms(n["stale_heartbeat"], "fail_safe.stale_heartbeat", 1000, 3'600'000);
}

void read_webhooks(const YAML::Node& n, std::vector<WebhookPolicy>& out) {
  if (!n.IsSequence()) fail(n, "webhooks", "must be a list");
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string at = "webhooks[" + std::to_string(i) + "]";
    const YAML::Node w = n[i];
    only_keys(w, at, {"kind", "url", "routing_key", "events"});
    WebhookPolicy hook;
    const std::string kind = w["kind"] && w["kind"].IsScalar() ? w["kind"].Scalar() : "";
    if (kind == "slack")
      hook.kind = WebhookPolicy::Kind::slack;
    else if (kind == "pagerduty")
      hook.kind = WebhookPolicy::Kind::pagerduty;
    else
      fail(w["kind"] ? w["kind"] : w, at + ".kind", "must be slack or pagerduty");
    hook.url = w["url"] && w["url"].IsScalar() ? w["url"].Scalar() : "";
    if (hook.url.rfind("http://", 0) != 0 && hook.url.rfind("https://", 0) != 0)
      fail(w["url"] ? w["url"] : w, at + ".url", "must be an http:// or https:// URL");
    if (w["routing_key"]) hook.routing_key = w["routing_key"].Scalar();
    if (hook.kind == WebhookPolicy::Kind::pagerduty && hook.routing_key.empty())
      fail(w, at + ".routing_key", "is required for pagerduty");
    if (w["events"]) {
      const YAML::Node events = w["events"];
      if (!events.IsSequence()) fail(events, at + ".events", "must be a list of event kinds");
      for (const auto& e : events) {
        EventKind event = EventKind::none;
        for (std::uint32_t k = 1; k < kEventKindCount; ++k)
          if (e.IsScalar() && e.Scalar() == to_string(static_cast<EventKind>(k))) event = static_cast<EventKind>(k);
        if (event == EventKind::none)
          fail(e, at + ".events", "'" + (e.IsScalar() ? e.Scalar() : std::string("?")) +
                                      "' is not an event kind (started, share_changed, ramp_step, awaiting_approval, "
                                      "promoted, rolled_back, paused, resumed, inconclusive, srm_detected, srm_cleared, switched, switched_back)");
        hook.events.push_back(event);
      }
    }
    out.push_back(hook);
  }
}

}  // namespace

EndpointRole Policy::role_of(std::string_view endpoint_template) const {
  for (const auto& [name, role] : endpoints)
    if (name == endpoint_template) return role;
  return EndpointRole::normal;
}

bool WebhookPolicy::wants(EventKind k) const {
  if (!events.empty()) return std::find(events.begin(), events.end(), k) != events.end();
  return kind == Kind::slack || k == EventKind::rolled_back;
}

Expected<Policy> parse_policy(std::string_view yaml, std::string_view file_name) {
  const std::string name(file_name);
  Policy p;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    // An empty file is more likely a failed deploy than a wish for the defaults (for those, leave
    // --policy out).
    if (root.IsNull()) return Status{Errc::invalid_argument, name + ": the policy is empty (leave --policy out for the defaults)"};
    only_keys(root, "", {"gate", "rollback", "ramp", "strategy", "blue_green", "endpoints", "fail_safe", "webhooks",
                         "webhook_timeout", "webhook_retries", "regions", "fleet"});
    if (root["regions"]) read_regions(root["regions"], p.fleet);
    if (root["fleet"]) read_fleet(root["fleet"], p.fleet);
    if (root["rollback"] && root["rollback"]["scope"]) read_scope(root["rollback"]["scope"], p.fleet);
    if (root["strategy"]) p.strategy = strategy(root["strategy"]);
    if (root["blue_green"]) read_blue_green(root["blue_green"], p.blue_green);
    if (root["gate"]) read_gate(root["gate"], p.gate);
    if (root["rollback"]) read_rollback(root["rollback"], p.rollback);
    if (root["ramp"]) read_ramp(root["ramp"], p.ramp);
    if (root["endpoints"]) read_endpoints(root["endpoints"], p.endpoints);
    if (root["fail_safe"]) read_fail_safe(root["fail_safe"], p.fail_safe);
    if (root["webhooks"]) read_webhooks(root["webhooks"], p.webhooks);
    if (root["webhook_timeout"]) p.webhook_timeout_ms = duration_ms(root["webhook_timeout"], "webhook_timeout", 100, 60'000);
    if (root["webhook_retries"])
      p.webhook_retries = static_cast<std::uint32_t>(whole_number(root["webhook_retries"], "webhook_retries", 10));
  } catch (const PolicyError& e) {
    return Status{Errc::invalid_argument, name + ":" + std::to_string(e.mark.line + 1) + ": " + e.field + ": " + e.problem};
  } catch (const YAML::Exception& e) {
    return Status{Errc::invalid_argument, name + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg};
  }
  return p;
}

Expected<Policy> load_policy(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status{Errc::invalid_argument, "cannot read policy file '" + path + "'"};
  std::stringstream text;
  text << in.rdbuf();
  return parse_policy(text.str(), path);
}

Policy candidate_policy(Policy policy, std::size_t candidates) {
  const double n = static_cast<double>(std::max<std::size_t>(1, candidates));
  policy.gate.alpha /= n;
  policy.rollback.alpha /= n;
  return policy;
}

}  // namespace canary
