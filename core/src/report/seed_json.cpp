// SPDX-License-Identifier: Apache-2.0
#include "canary/report/seed_json.hpp"

#include <cmath>
#include <cstdio>
#include <memory>

#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/summary.hpp"
#include "canary/versions.hpp"

namespace canary::report {

namespace {

constexpr const char* kNotAvailable = "n/a";

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

double rate_percent(const WindowCounts& c) {
  return c.requests == 0 ? 0.0 : 100.0 * static_cast<double>(c.errors) / static_cast<double>(c.requests);
}

double mean_ms(const WindowCounts& c) {
  return c.requests == 0 ? 0.0 : static_cast<double>(c.latency_sum_us) / 1000.0 / static_cast<double>(c.requests);
}

// A quantile for people: zero without requests, n/a when there were requests but no samples.
std::string quantile_ms(const VersionWindow& v, double us) {
  if (v.counts.requests == 0) return milliseconds(0);
  return std::isnan(us) ? kNotAvailable : milliseconds(us / 1000.0);
}

// The same quantile as a number, in microseconds and unrounded: the seed's strings have two
// decimals of a millisecond, more than 0.25% of a value below 2 ms. null without samples.
nlohmann::json quantile_us(const VersionWindow& v, double us) {
  if (v.counts.requests == 0) return 0;
  return std::isnan(us) ? nlohmann::json(nullptr) : nlohmann::json(us);
}

nlohmann::json version_json(const char* name, const VersionWindow& v) {
  const WindowCounts& c = v.counts;
  const double availability =
      c.requests == 0 ? 100.0 : 100.0 * (1.0 - static_cast<double>(c.unavailable) / static_cast<double>(c.requests));
  return {
      {"version", name},
      {"request_count", c.requests},
      {"error_count", c.errors},
      {"error_rate", percent(rate_percent(c))},
      {"avg_response_time_ms", milliseconds(mean_ms(c))},
      {"p95_response_time_ms", quantile_ms(v, v.p95_us)},
      {"p99_response_time_ms", quantile_ms(v, v.p99_us)},
      // Beyond the seed's keys:
      {"p50_response_time_ms", quantile_ms(v, v.p50_us)},
      {"client_error_count", c.client_errors},
      {"unavailable_count", c.unavailable},
      {"availability", percent(availability)},
      {"latency_samples", static_cast<std::uint64_t>(v.samples)},
      {"p50_response_time_us", quantile_us(v, v.p50_us)},
      {"p95_response_time_us", quantile_us(v, v.p95_us)},
      {"p99_response_time_us", quantile_us(v, v.p99_us)},
  };
}

}  // namespace

nlohmann::json share_json(std::uint32_t share_bp) {
  if (share_bp % 100 == 0) return share_bp / 100;  // 5, not 5.0
  return static_cast<double>(share_bp) / 100.0;
}

std::string percent(double value) { return fixed(value, 2) + "%"; }

std::string signed_percent(double value) {
  std::string text = fixed(value, 2);
  if (text == "-0.00") text = "0.00";
  return (text.front() == '-' ? "" : "+") + text + "%";
}

std::string milliseconds(double value) { return fixed(value, 2); }

VersionWindow from_summary(const SummaryStats& s) {
  VersionWindow v;
  v.counts = {s.requests, s.errors, s.client_errors, s.unavailable, s.latency_sum_us};
  v.p50_us = s.p50_ms * 1000;
  v.p95_us = s.p95_ms * 1000;
  v.p99_us = s.p99_ms * 1000;
  return v;
}

nlohmann::json comparison_json(const VersionWindow& legacy, const VersionWindow& canary) {
  const WindowCounts& l = legacy.counts;
  const WindowCounts& c = canary.counts;
  const bool both = l.requests != 0 && c.requests != 0;
  const std::uint64_t total = l.requests + c.requests;
  return {
      {"error_rate_difference", both ? signed_percent(rate_percent(c) - rate_percent(l)) : kNotAvailable},
      {"response_time_improvement",
       both && mean_ms(l) > 0 ? signed_percent(100.0 * (mean_ms(l) - mean_ms(c)) / mean_ms(l)) : kNotAvailable},
      {"canary_p95_response_time",
       c.requests != 0 && !std::isnan(canary.p95_us) ? milliseconds(canary.p95_us / 1000) + "ms" : kNotAvailable},
      {"legacy_p95_response_time",
       l.requests != 0 && !std::isnan(legacy.p95_us) ? milliseconds(legacy.p95_us / 1000) + "ms" : kNotAvailable},
      {"traffic_split",
       {{"legacy_requests", l.requests},
        {"canary_requests", c.requests},
        {"legacy_percentage", total ? fixed(100.0 * static_cast<double>(l.requests) / static_cast<double>(total), 1) + "%" : kNotAvailable},
        {"canary_percentage", total ? fixed(100.0 * static_cast<double>(c.requests) / static_cast<double>(total), 1) + "%" : kNotAvailable}}},
  };
}

nlohmann::json metrics_json(const VersionWindow& legacy, const VersionWindow& canary, Window window) {
  return {{"legacy", version_json("legacy", legacy)},
          {"canary", version_json("canary", canary)},
          {"comparison", comparison_json(legacy, canary)},
          {"window", std::string(to_string(window))}};
}

nlohmann::json metrics_json(const std::vector<NamedWindow>& versions, Window window) {
  if (versions.size() < 2) return metrics_json(VersionWindow{}, VersionWindow{}, window);
  nlohmann::json out = metrics_json(versions[0].window, versions[1].window, window);
  if (versions[0].name != "legacy") out["legacy"]["version"] = versions[0].name;
  if (versions[1].name != "canary") out["canary"]["version"] = versions[1].name;
  if (versions.size() == 2) return out;
  nlohmann::json all = nlohmann::json::object(), comparisons = nlohmann::json::object();
  for (std::size_t i = 0; i < versions.size(); ++i) {
    all[versions[i].name] = version_json(versions[i].name.c_str(), versions[i].window);
    if (i > 0) comparisons[versions[i].name] = comparison_json(versions[0].window, versions[i].window);
  }
  out["versions"] = std::move(all);
  out["comparisons"] = std::move(comparisons);
  return out;
}

std::vector<NamedWindow> shown_versions(const ConfigData* c, const std::function<VersionWindow(std::uint32_t)>& window_of) {
  std::vector<NamedWindow> out;
  if (c == nullptr) {
    for (std::uint32_t v = 0; v < 2; ++v) out.push_back({std::string(to_string(static_cast<Version>(v))), window_of(v)});
    return out;
  }
  // The baseline, the first candidate, then every other slot in use.
  const std::uint32_t count = std::min<std::uint32_t>(c->version_count, kMaxVersions);
  const std::uint32_t first = first_candidate(*c);
  std::vector<std::uint32_t> order = {c->baseline, first};
  for (std::uint32_t v = 0; v < count; ++v)
    if (v != c->baseline && v != first) order.push_back(v);
  for (std::uint32_t v : order) out.push_back({std::string(version_name(*c, v)), window_of(v)});
  return out;
}

std::optional<nlohmann::json> published_metrics_json(const std::string& segment_name, Window window) {
  Expected<Segment> segment = Segment::attach(segment_name, Access::read_only);
  auto summary = std::make_unique<SummaryData>();
  auto config = std::make_unique<ConfigData>();
  if (!segment || !read_summary(*segment, *summary)) return std::nullopt;
  const bool named = read_config(segment->config(), *config, segment->geometry().params.endpoint_capacity).ok;
  const auto w = static_cast<std::size_t>(window);
  nlohmann::json body = metrics_json(
      shown_versions(named ? config.get() : nullptr, [&](std::uint32_t v) { return from_summary(summary->totals[w][v]); }),
      window);
  // The published summary has the quantiles but not the digest's sample count.
  for (const char* version : {"legacy", "canary"}) body[version].erase("latency_samples");
  if (body.contains("versions"))
    for (auto& [name, block] : body["versions"].items()) block.erase("latency_samples");
  return body;
}

nlohmann::json endpoints_json(const AggregatorSnapshot& s, Window window) {
  nlohmann::json out = nlohmann::json::object();
  const std::uint32_t registered = s.config ? s.config->endpoint_count : 1;
  for (std::uint32_t e = 0; e < s.endpoint_capacity && e < kMaxEndpoints; ++e) {
    const std::vector<NamedWindow> versions = shown_versions(
        s.config.get(), [&](std::uint32_t v) { return s.endpoint(window, static_cast<Version>(v), static_cast<EndpointId>(e)); });
    bool traffic = false;
    for (const NamedWindow& v : versions) traffic = traffic || v.window.counts.requests != 0;
    if (e >= registered || (e == kOtherEndpoint && !traffic)) continue;
    const std::string name = s.config ? std::string(text_of(s.config->endpoints[e].path)) : "#" + std::to_string(e);
    // "legacy" and "canary" are the baseline and the first candidate, whatever their names; any
    // further candidate adds its own name.
    nlohmann::json entry = {{"legacy", version_json(versions[0].name.c_str(), versions[0].window)},
                            {"canary", version_json(versions[1].name.c_str(), versions[1].window)}};
    for (std::size_t i = 2; i < versions.size(); ++i)
      entry[versions[i].name] = version_json(versions[i].name.c_str(), versions[i].window);
    out[name] = std::move(entry);
  }
  return out;
}

nlohmann::json config_json(const ConfigData& c) {
  const VersionEntry& first = c.versions[first_candidate(c)];
  nlohmann::json endpoints = nlohmann::json::array();
  for (std::uint32_t id = 1; id < c.endpoint_count; ++id)
    if (endpoint_on(first, id)) endpoints.push_back(std::string(text_of(c.endpoints[id].path)));
  nlohmann::json versions = nlohmann::json::array();
  for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v) {
    const VersionEntry& e = c.versions[v];
    if (e.slot != kSlotActive) continue;
    nlohmann::json on = nlohmann::json::array();
    for (std::uint32_t id = 1; id < c.endpoint_count && v != c.baseline; ++id)
      if (endpoint_on(e, id)) on.push_back(std::string(text_of(c.endpoints[id].path)));
    const std::uint32_t share = v == c.baseline ? baseline_share(c) : e.share_bp;
    nlohmann::json entry = {{"name", std::string(text_of(e.name))},
                            {"role", v == c.baseline ? "baseline" : "candidate"},
                            {"share", share_json(share)},
                            {"endpoints", on},
                            {"state", std::string(to_string(static_cast<DeploymentState>(e.state)))},
                            {"state_reason", std::string(text_of(e.state_reason))}};
    if (v != c.baseline) {
      entry["srm_detected"] = e.srm_detected != 0;
      entry["awaiting_approval"] = e.awaiting_approval != 0;
    }
    versions.push_back(std::move(entry));
  }
  nlohmann::json out = {
      {"enabled", c.enabled != 0},
      {"canary_percentage", share_json(first.share_bp)},
      {"endpoints_to_canary", endpoints},
      {"hash", std::string(to_string(static_cast<HashMode>(c.hash_mode)))},
      {"salt", c.salt},
      {"state", std::string(to_string(static_cast<DeploymentState>(first.state)))},
      {"generation", c.generation},
      {"state_reason", std::string(text_of(first.state_reason))},
      {"changed_by", std::string(text_of(c.changed_by))},
      {"changed_unix_ns", c.changed_unix_ns},
      {"rollout_started_unix_ns", c.rollout_started_unix_ns},
      {"versions", versions},
  };
  if (c.switched)
    out["switch"] = {{"to", std::string(version_name(c, c.switch_to))}, {"from", std::string(version_name(c, c.switch_from))}};
  return out;
}

}  // namespace canary::report
