// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/controller_http.hpp"

#include "canary/http/server.hpp"
#include "canary/report/decision_json.hpp"
#include "canary/report/process_metrics.hpp"

namespace canary::fleet {

using json = nlohmann::json;

namespace {

constexpr const char* kSideNames[kFleetSides] = {"legacy", "canary"};

json counts_json(const WindowCounts& c) {
  const double n = static_cast<double>(c.requests);
  return {{"requests", c.requests},
          {"errors", c.errors},
          {"error_rate", n > 0 ? static_cast<double>(c.errors) / n : 0.0},
          {"unavailable", c.unavailable},
          {"mean_latency_ms", n > 0 ? static_cast<double>(c.latency_sum_us) / n / 1000.0 : 0.0}};
}

json scope_json(const ScopeView& s) {
  json versions = json::object();
  for (std::uint32_t v = 0; v < kFleetSides; ++v) {
    json one = counts_json(s.total[v]);
    one["step"] = counts_json(s.step[v]);
    one["step_p95_ms"] = s.p95_ms[v];
    one["step_p99_ms"] = s.p99_ms[v];
    versions[kSideNames[v]] = one;
  }
  json out = {{"scope", s.scope}, {"share_bp", s.share_bp}, {"judged", s.judged}, {"step_sequence", s.sequence},
              {"gate_held_ms", s.gate_held_ms}, {"versions", versions}, {"hosts", s.hosts}, {"missing_hosts", s.missing}};
  if (s.judged) {
    json triggers = json::array(), gate = json::array();
    for (const Check& c : s.judgement.triggers) triggers.push_back(report::check_json(c));
    for (const Check& c : s.judgement.gate) gate.push_back(report::check_json(c));
    out["rollback"] = s.judgement.rollback;
    out["gate_holds"] = s.judgement.gate_holds;
    out["triggers"] = triggers;
    out["gate"] = gate;
  }
  return out;
}

json config_json(const FleetConfig& c) { return json::parse(to_json(c)); }

}  // namespace

json fleet_hosts_json(const FleetView& v) {
  json hosts = json::array();
  for (const HostView& h : v.hosts) {
    json totals = json::object();
    for (std::uint32_t s = 0; s < kFleetSides; ++s) totals[kSideNames[s]] = counts_json(h.totals[s]);
    hosts.push_back({{"id", h.id}, {"region", h.region}, {"url", h.url}, {"alive", h.alive}, {"data_missing", h.data_missing},
                     {"last_error", h.last_error}, {"applied_generation", h.applied_generation},
                     {"last_interval", to_string(h.last)}, {"lag_s", h.lag_s}, {"totals", totals}});
  }
  return {{"leader", v.leader}, {"leader_id", v.leader_id}, {"generation", v.config.generation},
          {"config_lag_s", v.config_lag_s}, {"hosts", hosts}};
}

json fleet_status_json(const FleetView& v) {
  json scopes = json::array();
  for (const ScopeView& s : v.scopes) scopes.push_back(scope_json(s));
  return {{"leader", v.leader},
          {"leader_id", v.leader_id},
          {"config", config_json(v.config)},
          {"config_revision", v.config_revision},
          {"scopes", scopes},
          {"intervals_merged", v.intervals_merged},
          {"intervals_left_out", v.intervals_left_out},
          {"requests_left_out", v.requests_left_out},
          {"decisions_written", v.decisions_written},
          {"decision_write_failures", v.write_failures},
          {"pull_failures", v.pull_failures},
          {"last_decision", v.last_decision},
          {"last_failure", v.last_failure}};
}

std::string fleet_metrics(const FleetView& v) {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto line = [&](const std::string& name, const std::string& labels, double value) {
    char number[64];
    std::snprintf(number, sizeof number, "%.17g", value);
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number + "\n";
  };
  family("canary_fleet_leader", "gauge", "1 on the controller that leads the fleet.");
  line("canary_fleet_leader", "", v.leader ? 1 : 0);
  std::size_t alive = 0, missing = 0;
  for (const HostView& h : v.hosts) (h.data_missing ? missing : alive) += 1;
  family("canary_fleet_hosts", "gauge", "Registered hosts, by whether their data arrived in the last interval.");
  line("canary_fleet_hosts", "state=\"reporting\"", static_cast<double>(alive));
  line("canary_fleet_hosts", "state=\"missing\"", static_cast<double>(missing));
  family("canary_fleet_config_lag_seconds", "gauge", "How long the slowest live host has not applied the newest fleet config.");
  line("canary_fleet_config_lag_seconds", "", v.config_lag_s);
  family("canary_fleet_config_generation", "gauge", "The fleet config's generation.");
  line("canary_fleet_config_generation", "", static_cast<double>(v.config.generation));
  family("canary_fleet_decisions_written_total", "counter", "Decisions this controller wrote into the fleet config.");
  line("canary_fleet_decisions_written_total", "", static_cast<double>(v.decisions_written));
  family("canary_fleet_decision_write_failures_total", "counter", "Decisions or checkpoints that could not be written.");
  line("canary_fleet_decision_write_failures_total", "", static_cast<double>(v.write_failures));
  family("canary_fleet_intervals_left_out_total", "counter",
         "Host intervals merged into the totals but into no step: recorded across a config change, after a gap, or under an older rollout.");
  line("canary_fleet_intervals_left_out_total", "", static_cast<double>(v.intervals_left_out));
  family("canary_fleet_requests_left_out_total", "counter", "The requests those intervals held.");
  line("canary_fleet_requests_left_out_total", "", static_cast<double>(v.requests_left_out));
  family("canary_fleet_pull_failures_total", "counter", "Pulls of a host's intervals that failed.");
  line("canary_fleet_pull_failures_total", "", static_cast<double>(v.pull_failures));
  family("canary_requests_total", "counter", "Requests merged from every host, by region (\"fleet\": all) and version.");
  for (const ScopeView& s : v.scopes)
    for (std::uint32_t i = 0; i < kFleetSides; ++i)
      line("canary_requests_total", "region=\"" + s.scope + "\",version=\"" + kSideNames[i] + "\"", static_cast<double>(s.total[i].requests));
  family("canary_errors_total", "counter", "Errors (status 0 and 5xx) merged from every host, by region and version.");
  for (const ScopeView& s : v.scopes)
    for (std::uint32_t i = 0; i < kFleetSides; ++i)
      line("canary_errors_total", "region=\"" + s.scope + "\",version=\"" + kSideNames[i] + "\"", static_cast<double>(s.total[i].errors));
  // Base units, one per name: seconds and ratios.
  family("canary_step_latency_p95_seconds", "gauge", "P95 latency over the current step, by region and version.");
  for (const ScopeView& s : v.scopes)
    for (std::uint32_t i = 0; i < kFleetSides; ++i)
      line("canary_step_latency_p95_seconds", "region=\"" + s.scope + "\",version=\"" + kSideNames[i] + "\"", s.p95_ms[i] / 1000);
  family("canary_share_ratio", "gauge", "The candidate's share, by region (0.05 is 5%).");
  for (const ScopeView& s : v.scopes) line("canary_share_ratio", "region=\"" + s.scope + "\"", s.share_bp / 10000.0);
  return out;
}

http::Router controller_routes(const FleetController& controller) {
  http::Router r;
  const FleetController* c = &controller;
  auto with_view = [c](auto body) {
    return [c, body](const http::Request& req, const http::Captures&) {
      auto v = c->view();
      if (!v) return http::error_response(503, "the controller has not finished its first interval");
      return body(req, *v);
    };
  };
  auto reply = [](const json& body) { return http::Response{200, "application/json", body.dump(2) + "\n", {}}; };
  r.add("GET", "/healthz", with_view([reply](const http::Request&, const FleetView& v) {
    return reply({{"status", "ok"}, {"leader", v.leader}});
  }));
  r.add("GET", "/metrics", with_view([](const http::Request&, const FleetView& v) {
    return http::Response{200, "text/plain; version=0.0.4; charset=utf-8",
                          fleet_metrics(v) + report::build_and_process_metrics(), {}};
  }));
  r.add("GET", "/api/v2/admin/canary/fleet", with_view([reply](const http::Request&, const FleetView& v) {
    return reply(fleet_hosts_json(v));
  }));
  r.add("GET", "/api/v2/admin/canary/status", with_view([reply](const http::Request& req, const FleetView& v) {
    json body = fleet_status_json(v);
    if (req.has_param("region")) {
      json only = json::array();
      for (const json& s : body["scopes"])
        if (s["scope"] == req.param("region")) only.push_back(s);
      if (only.empty()) return http::error_response(404, "no region '" + req.param("region") + "' in the fleet", "region");
      body["scopes"] = only;
    }
    return reply(body);
  }));
  // The seed's counts by version, for the fleet, a region, or a host.
  r.add("GET", "/api/v2/admin/canary/metrics", with_view([reply](const http::Request& req, const FleetView& v) {
    const WindowCounts* totals = nullptr;
    std::string what = "fleet";
    if (req.has_param("host")) {
      for (const HostView& h : v.hosts)
        if (h.id == req.param("host")) totals = h.totals;
      what = "host " + req.param("host");
    } else {
      const std::string region = req.has_param("region") ? req.param("region") : "fleet";
      for (const ScopeView& s : v.scopes)
        if (s.scope == region) totals = s.total;
      what = region == "fleet" ? "fleet" : "region " + region;
    }
    if (totals == nullptr) return http::error_response(404, "no " + what + " in the fleet");
    json body = {{"scope", what}, {"generation", v.config.generation}};
    for (std::uint32_t i = 0; i < kFleetSides; ++i) body[kSideNames[i]] = counts_json(totals[i]);
    return reply(body);
  }));
  return r;
}

}  // namespace canary::fleet
