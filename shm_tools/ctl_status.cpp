// SPDX-License-Identifier: Apache-2.0
#include "ctl_status.hpp"

#include "canary/summary.hpp"

#include <functional>
#include <memory>

#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/events.hpp"
#include "canary/fixed_text.hpp"
#include "canary/liveness.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"
#include "tool_common.hpp"

#include <nlohmann/json.hpp>

namespace canary::tools {

namespace {

const char* yes_no(bool v) { return v ? "true" : "false"; }

std::string ramp_text(const ConfigData& c) {
  std::string text;
  for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i)
    text += (i ? " " : "") + format_share_percent(c.ramp_bp[i]);
  if (text.empty()) return "none";
  return text + (c.require_approval ? " (100% waits for approve)" : "");
}

// Stable words only: no heartbeat age, which changes by itself.
std::string aggregator_line(const Segment& segment) {
  const AggregatorLiveness l = aggregator_liveness(segment);
  switch (l.state) {
    case AggregatorState::alive:
    case AggregatorState::stalled:
      return std::string(to_string(l.state)) + " (pid " + std::to_string(l.pid) + ")";
    case AggregatorState::dead:
      return "dead";
    default:
      return "none (never ran)";
  }
}

// One line per version: name, role, share, state; candidates add their flags.
void print_version_lines(const ConfigData& c, std::ostream& out) {
  for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v) {
    const VersionEntry& e = c.versions[v];
    out << "version." << v << ": " << text_of(e.name);
    if (e.slot == kSlotRetired) {
      out << " removed\n";
      continue;
    }
    out << (v == c.baseline ? " baseline" : " candidate") << " share="
        << format_share_percent(v == c.baseline ? baseline_share(c) : e.share_bp) << '%';
    if (v != c.baseline)
      out << " state=" << to_string(static_cast<DeploymentState>(e.state)) << " awaiting_approval=" << yes_no(e.awaiting_approval)
          << " srm_detected=" << yes_no(e.srm_detected);
    out << '\n';
  }
  if (c.switched)
    out << "switch: every user to " << version_name(c, c.switch_to) << " (from " << version_name(c, c.switch_from) << ")\n";
}

Expected<std::unique_ptr<ConfigData>> config_of(const Segment& segment) {
  auto config = std::make_unique<ConfigData>();
  if (!read_config(segment.config(), *config, segment.geometry().params.endpoint_capacity).ok)
    return Status{Errc::corrupt, "the segment's config is corrupt: neither copy is valid"};
  return config;
}

double percent_of(std::uint32_t bp) { return bp / 100.0; }

bool fleet_connected(const Segment& segment) {
  // Fleet mode: the aggregator publishes whether it reaches etcd in its summary. Only a live
  // aggregator is in the fleet: a dead one's last summary says nothing now.
  auto summary = std::make_unique<SummaryData>();
  return aggregator_liveness(segment).state == AggregatorState::alive && read_summary(segment, *summary) &&
         summary->fleet_state == 1;
}

// Attaches read-only, reads the config and runs `show` on both; a missing segment or a corrupt
// config is reported instead.
int show_segment(const std::string& name, const std::function<int(const Segment&, const ConfigData&)>& show) {
  auto attached = Segment::attach(name, Access::read_only);
  if (!attached) return report_error("canary-ctl", attached.status());
  auto config = config_of(*attached);
  if (!config) return report_error("canary-ctl", config.status());
  return show(*attached, **config);
}

int status_text(const std::string& name, const Segment& segment, const ConfigData& c, std::ostream& out) {
  const SegmentParams& p = segment.geometry().params;
  // The first candidate's figures keep the two-version keys; every version follows as version.N.
  const VersionEntry& first = c.versions[first_candidate(c)];

  out << "segment: " << name << '\n'
      << "layout_version: " << segment.header().layout_version << '\n'
      << "cpu_slots: " << p.cpu_slots << '\n'
      << "endpoint_capacity: " << p.endpoint_capacity << '\n'
      << "rings: " << p.ring_count << '\n'
      << "ring_records: " << p.ring_records << '\n'
      << "enabled: " << yes_no(c.enabled) << '\n'
      << "canary_percentage: " << format_share_percent(first.share_bp) << '\n'
      << "share_bp: " << first.share_bp << '\n'
      << "hash: " << to_string(static_cast<HashMode>(c.hash_mode)) << '\n'
      << "salt: " << c.salt << '\n'
      << "state: " << to_string(static_cast<DeploymentState>(first.state)) << '\n'
      << "state_reason: " << text_of(first.state_reason) << '\n'
      << "awaiting_approval: " << yes_no(first.awaiting_approval) << '\n'
      << "srm_detected: " << yes_no(first.srm_detected) << '\n'
      << "ramp: " << ramp_text(c) << '\n'
      << "ramp_step: " << first.ramp_step << '\n'
      << "step_started_at: " << utc_text(first.step_started_unix_ns) << '\n'
      << "fail_safe_after_ms: " << c.fail_safe_after_ms << '\n'
      << "rollout_started_at: " << utc_text(c.rollout_started_unix_ns) << '\n'
      << "generation: " << c.generation << '\n'
      << "changed_by: " << text_of(c.changed_by) << '\n'
      << "changed_at: " << utc_text(c.changed_unix_ns) << '\n'
      << "versions: " << static_cast<unsigned>(c.version_count) << '\n';
  if (c.fleet_managed) out << "fleet_managed: true\n" << "fleet_connected: " << (fleet_connected(segment) ? 1 : 0) << '\n';
  print_version_lines(c, out);
  out << "endpoints: " << c.endpoint_count << '\n';
  for (std::uint32_t id = 0; id < c.endpoint_count; ++id) {
    out << "endpoint." << id << ": " << text_of(c.endpoints[id].path) << " canary=" << yes_no(endpoint_on(first, id));
    for (std::uint32_t v : active_candidates(c))
      if (v != first_candidate(c)) out << ' ' << version_name(c, v) << '=' << yes_no(endpoint_on(c.versions[v], id));
    out << '\n';
  }
  out << "pins: " << c.override_count << '\n';
  for (std::uint32_t i = 0; i < c.override_count; ++i) {
    const OverrideEntry& o = c.overrides[i];
    const std::string_view shown = text_of(o.id_prefix);
    out << "pin." << i << ": " << shown << (o.id_len > shown.size() ? "..." : "") << ' '
        << version_name(c, o.version) << '\n';
  }
  out << "aggregator: " << aggregator_line(segment) << '\n';
  const std::vector<Event> events = read_events(segment);
  out << "events: " << events.size() << '\n';
  for (std::size_t i = events.size() > 5 ? events.size() - 5 : 0; i < events.size(); ++i) {
    const Event& e = events[i];
    out << "event." << e.seq << ": " << utc_text(e.unix_ns) << ' ' << to_string(e.kind) << ' '
        << (c.version_count > 2 ? e.version_name + ' ' : std::string())
        << format_share_percent(e.share_before_bp) << "% -> " << format_share_percent(e.share_after_bp) << "%: " << e.reason
        << '\n';
  }
  return kExitOk;
}

int status_json(const std::string& name, const Segment& segment, const ConfigData& c, std::ostream& out) {
  using json = nlohmann::ordered_json;
  const SegmentParams& p = segment.geometry().params;
  const VersionEntry& first = c.versions[first_candidate(c)];

  json ramp = json::array();
  for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i) ramp.push_back(percent_of(c.ramp_bp[i]));
  json doc = {
      {"segment", name},
      {"layout_version", segment.header().layout_version},
      {"cpu_slots", p.cpu_slots},
      {"endpoint_capacity", p.endpoint_capacity},
      {"rings", p.ring_count},
      {"ring_records", p.ring_records},
      {"enabled", static_cast<bool>(c.enabled)},
      {"canary_percentage", percent_of(first.share_bp)},
      {"share_bp", first.share_bp},
      {"hash", to_string(static_cast<HashMode>(c.hash_mode))},
      {"salt", c.salt},
      {"state", to_string(static_cast<DeploymentState>(first.state))},
      {"state_reason", text_of(first.state_reason)},
      {"awaiting_approval", static_cast<bool>(first.awaiting_approval)},
      {"srm_detected", static_cast<bool>(first.srm_detected)},
      {"ramp", ramp},
      {"require_approval", static_cast<bool>(c.require_approval)},
      {"ramp_step", first.ramp_step},
      {"step_started_at", utc_text(first.step_started_unix_ns)},
      {"fail_safe_after_ms", c.fail_safe_after_ms},
      {"rollout_started_at", utc_text(c.rollout_started_unix_ns)},
      {"generation", c.generation},
      {"changed_by", text_of(c.changed_by)},
      {"changed_at", utc_text(c.changed_unix_ns)},
      {"fleet_managed", static_cast<bool>(c.fleet_managed)},
      {"fleet_connected", c.fleet_managed ? json(fleet_connected(segment)) : json(nullptr)},
  };
  json versions = json::array();
  for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v) {
    const VersionEntry& e = c.versions[v];
    json entry = {{"index", v}, {"name", version_name(c, v)}};
    if (e.slot == kSlotRetired) {
      entry["role"] = "removed";
    } else {
      entry["role"] = v == c.baseline ? "baseline" : "candidate";
      entry["share_percent"] = percent_of(v == c.baseline ? baseline_share(c) : e.share_bp);
      if (v != c.baseline) {
        entry["state"] = to_string(static_cast<DeploymentState>(e.state));
        entry["awaiting_approval"] = static_cast<bool>(e.awaiting_approval);
        entry["srm_detected"] = static_cast<bool>(e.srm_detected);
      }
    }
    versions.push_back(entry);
  }
  doc["versions"] = versions;
  doc["switch"] = c.switched ? json{{"to", version_name(c, c.switch_to)}, {"from", version_name(c, c.switch_from)}} : json(nullptr);
  json endpoints = json::array();
  for (std::uint32_t id = 0; id < c.endpoint_count; ++id) {
    json on = json::object();
    for (std::uint32_t v : active_candidates(c)) on[std::string(version_name(c, v))] = endpoint_on(c.versions[v], id);
    endpoints.push_back({{"id", id}, {"path", text_of(c.endpoints[id].path)}, {"versions", on}});
  }
  doc["endpoints"] = endpoints;
  json pins = json::array();
  for (std::uint32_t i = 0; i < c.override_count; ++i) {
    const OverrideEntry& o = c.overrides[i];
    // The segment keeps an id's first bytes; `truncated` says the id is longer.
    pins.push_back({{"user", text_of(o.id_prefix)}, {"truncated", o.id_len > text_of(o.id_prefix).size()},
                    {"version", version_name(c, o.version)}});
  }
  doc["pins"] = pins;
  const AggregatorLiveness live = aggregator_liveness(segment);
  doc["aggregator"] = {{"state", to_string(live.state)}, {"pid", live.pid}};
  json events = json::array();
  for (const Event& e : read_events(segment))
    events.push_back({{"seq", e.seq},
                      {"at", utc_text(e.unix_ns)},
                      {"kind", to_string(e.kind)},
                      {"version", e.version_name},
                      {"share_before", percent_of(e.share_before_bp)},
                      {"share_after", percent_of(e.share_after_bp)},
                      {"actor", e.actor},
                      {"reason", e.reason}});
  doc["events"] = events;
  out << doc.dump() << '\n';
  return kExitOk;
}

}  // namespace

int print_versions(const std::string& name, std::ostream& out) {
  return show_segment(name, [&](const Segment&, const ConfigData& c) {
    print_version_lines(c, out);
    return kExitOk;
  });
}

int print_status(const std::string& name, std::ostream& out) {
  return show_segment(name, [&](const Segment& s, const ConfigData& c) { return status_text(name, s, c, out); });
}

int print_status_json(const std::string& name, std::ostream& out) {
  return show_segment(name, [&](const Segment& s, const ConfigData& c) { return status_json(name, s, c, out); });
}

}  // namespace canary::tools
