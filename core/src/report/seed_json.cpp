#include "canary/report/seed_json.hpp"

#include <cmath>
#include <cstdio>

#include "canary/fixed_text.hpp"
#include "canary/share.hpp"

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

nlohmann::json metrics_json(const VersionWindow& legacy, const VersionWindow& canary, Window window) {
  const WindowCounts& l = legacy.counts;
  const WindowCounts& c = canary.counts;
  const bool both = l.requests != 0 && c.requests != 0;
  const std::uint64_t total = l.requests + c.requests;
  nlohmann::json comparison = {
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
  return {{"legacy", version_json("legacy", legacy)},
          {"canary", version_json("canary", canary)},
          {"comparison", comparison},
          {"window", std::string(to_string(window))}};
}

nlohmann::json endpoints_json(const AggregatorSnapshot& s, Window window) {
  nlohmann::json out = nlohmann::json::object();
  const std::uint32_t registered = s.config ? s.config->endpoint_count : 1;
  for (std::uint32_t e = 0; e < s.endpoint_capacity && e < kMaxEndpoints; ++e) {
    const VersionWindow& legacy = s.endpoint(window, Version::legacy, static_cast<EndpointId>(e));
    const VersionWindow& canary = s.endpoint(window, Version::canary, static_cast<EndpointId>(e));
    const bool traffic = legacy.counts.requests != 0 || canary.counts.requests != 0;
    if (e >= registered || (e == kOtherEndpoint && !traffic)) continue;
    const std::string name = s.config ? std::string(text_of(s.config->endpoints[e].path)) : "#" + std::to_string(e);
    out[name] = {{"legacy", version_json("legacy", legacy)}, {"canary", version_json("canary", canary)}};
  }
  return out;
}

nlohmann::json config_json(const ConfigData& c) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (std::uint32_t id = 1; id < c.endpoint_count; ++id)
    if (c.endpoints[id].canary) endpoints.push_back(std::string(text_of(c.endpoints[id].path)));
  return {
      {"enabled", c.enabled != 0},
      {"canary_percentage", share_json(c.share_bp)},
      {"endpoints_to_canary", endpoints},
      {"hash", std::string(to_string(static_cast<HashMode>(c.hash_mode)))},
      {"salt", c.salt},
      {"state", std::string(to_string(static_cast<DeploymentState>(c.state)))},
      {"generation", c.generation},
      {"state_reason", std::string(text_of(c.state_reason))},
      {"changed_by", std::string(text_of(c.changed_by))},
      {"changed_unix_ns", c.changed_unix_ns},
      {"rollout_started_unix_ns", c.rollout_started_unix_ns},
  };
}

}  // namespace canary::report
