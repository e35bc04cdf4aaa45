// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/host_http.hpp"

#include "canary/http/server.hpp"

namespace canary::fleet {

using json = nlohmann::json;

void add_host_routes(http::Router& router, std::function<HostAgent*()> agent,
                     std::function<bool(const http::Request&)> authorized) {
  router.add("GET", "/api/v2/admin/canary/fleet/intervals",
             [agent, authorized](const http::Request& req, const http::Captures&) {
               // Interval data tells how every version fares: as private as a mutating call.
               if (!authorized(req)) return http::error_response(401, "a valid 'Authorization: Bearer TOKEN' header is required");
               IntervalId after;
               if (req.has_param("after")) {
                 auto id = parse_interval_id(req.param("after"));
                 if (!id) return http::error_response(400, "after must be EPOCH.SEQ, e.g. 1764680000000.12", "after");
                 after = *id;
               }
               HostAgent* a = agent();
               if (a == nullptr) return http::error_response(503, "the fleet agent is starting");
               return http::Response{200, "application/octet-stream", a->intervals_after(after), {}};
             });
}

json host_status_json(const HostAgent& agent) {
  const HostFleetStatus s = agent.status();
  const HostOptions& o = agent.options();
  return {{"deployment", o.deployment},
          {"host_id", o.host_id},
          {"region", o.region},
          {"advertise", o.advertise},
          {"connected", s.connected},
          {"disconnected_ms", s.disconnected_ms},
          {"routing_disabled_for_etcd_loss", s.routing_disabled_for_etcd_loss},
          {"applied_generation", s.applied_generation},
          {"etcd_errors", s.etcd_errors},
          {"apply_failures", s.apply_failures},
          {"last_error", s.last_error},
          {"newest_interval", to_string(s.newest)}};
}

std::string host_metrics(const HostAgent& agent) {
  const HostFleetStatus s = agent.status();
  std::string out;
  out += "# HELP canary_fleet_connected 1 while this host reaches etcd (its lease and its config watch).\n";
  out += "# TYPE canary_fleet_connected gauge\n";
  out += "canary_fleet_connected " + std::to_string(s.connected ? 1 : 0) + "\n";
  out += "# HELP canary_fleet_applied_generation The fleet config generation this host applied last.\n";
  out += "# TYPE canary_fleet_applied_generation gauge\n";
  out += "canary_fleet_applied_generation " + std::to_string(s.applied_generation) + "\n";
  out += "# HELP canary_fleet_etcd_errors_total etcd calls of this host that failed.\n";
  out += "# TYPE canary_fleet_etcd_errors_total counter\n";
  out += "canary_fleet_etcd_errors_total " + std::to_string(s.etcd_errors) + "\n";
  out += "# HELP canary_fleet_apply_failures_total Fleet configs this host refused or could not apply.\n";
  out += "# TYPE canary_fleet_apply_failures_total counter\n";
  out += "canary_fleet_apply_failures_total " + std::to_string(s.apply_failures) + "\n";
  return out;
}

}  // namespace canary::fleet
