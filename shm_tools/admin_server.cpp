// SPDX-License-Identifier: Apache-2.0
#include "admin_server.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <variant>

#include "admin_config.hpp"
#include "admin_experiments.hpp"
#include "canary/clock.hpp"
#include "canary/config_edit.hpp"
#include "canary/deployment.hpp"
#include "canary/fixed_text.hpp"
#include "canary/report/decision_json.hpp"
#include "canary/report/memory_report.hpp"
#include "canary/report/process_metrics.hpp"
#include "canary/report/prometheus.hpp"
#include "canary/report/seed_json.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary::tools {

namespace {

using nlohmann::json;
using http::Captures;
using http::Request;
using http::Response;

constexpr std::size_t kMaxBodyBytes = 64 * 1024;

Response reply(int status, const json& body) { return {status, "application/json", body.dump(2) + "\n", {}}; }

Response refuse(const ApiError& e) { return http::error_response(e.http_status, e.message, e.field); }

std::array<unsigned char, SHA256_DIGEST_LENGTH> sha256(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

json failure_json(const FailureCounter& counter) {
  const FailureCounter::View v = counter.view();
  json j = {{"failures", v.total}};
  if (v.total > 0) {
    j["last_failure"] = utc_text(v.last_unix_ns);
    j["last_error"] = v.last_error;
  }
  return j;
}

}  // namespace

Status parse_listen(const std::string& text, AdminOptions& options) {
  const auto colon = text.rfind(':');
  int port = -1;
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  if (colon == std::string::npos || colon == 0 || begin == end || std::from_chars(begin, end, port).ptr != end ||
      port < 0 || port > 65535)
    return {Errc::invalid_argument, "--listen '" + text.substr(0, 60) + "' must be HOST:PORT, e.g. 127.0.0.1:8081"};
  options.host = text.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[' && options.host.back() == ']')
    options.host = options.host.substr(1, options.host.size() - 2);  // [::1]:8081
  options.port = port;
  return Status::Ok();
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

Expected<std::unique_ptr<AdminServer>> AdminServer::start(Aggregator& aggregator, const AdminOptions& options) {
  std::unique_ptr<AdminServer> s(new AdminServer());
  s->aggregator_ = &aggregator;
  s->options_ = options;
  http::ServerOptions server;
  server.host = options.host;
  server.port = options.port;
  server.tls_cert = options.tls_cert;
  server.tls_key = options.tls_key;
  server.max_body_bytes = kMaxBodyBytes;
  auto started = http::Server::listen(server, s->routes());
  if (!started) return started.status();
  s->server_ = std::move(*started);
  return s;
}

bool AdminServer::authorized(const std::string& header) const {
  if (options_.token.empty()) return true;
  // RFC 7235: the scheme is case-insensitive ("bearer", "BEARER"), one space before the token.
  constexpr std::string_view kBearer = "bearer ";
  if (header.size() < kBearer.size() || !http::iequals(std::string_view(header).substr(0, kBearer.size()), kBearer))
    return false;
  // Hash both sides first, so the comparison takes the same time whatever the lengths.
  const auto given = sha256(std::string_view(header).substr(kBearer.size()));
  const auto wanted = sha256(options_.token);
  return CRYPTO_memcmp(given.data(), wanted.data(), given.size()) == 0;
}

http::Router AdminServer::routes() {
  http::Router r;
  Aggregator* const agg = aggregator_;  // outlives the server
  const std::uint32_t capacity = agg->segment().geometry().params.endpoint_capacity;

  auto window_of = [](const Request& req) -> std::variant<Window, Response> {
    if (!req.has_param("window")) return Window::all;
    auto w = parse_window(req.param("window"));
    if (!w) return http::error_response(400, "window must be one of 5m, 1h, 6h, 24h, all", "window");
    return *w;
  };
  auto not_yet = [] { return http::error_response(503, "the aggregator has not finished its first interval"); };
  // Wraps a mutating handler: token first, then the change.
  auto mutating = [this, agg](http::Route handler) -> http::Route {
    return [this, agg, handler](const Request& req, const Captures& c) {
      if (!authorized(req.header("Authorization"))) {
        Response res = http::error_response(401, "a valid 'Authorization: Bearer TOKEN' header is required");
        res.headers.emplace_back("WWW-Authenticate", "Bearer");
        return res;
      }
      // A fleet's host takes its config from etcd only, so that no host drifts from the others.
      ConfigData now;
      if (read_config(agg->segment().config(), now, agg->segment().geometry().params.endpoint_capacity).ok &&
          now.fleet_managed)
        return http::error_response(409, "this host is managed by fleet deployment '" +
                                             (options_.fleet_deployment.empty() ? std::string("?") : options_.fleet_deployment) +
                                             "': change it with canary-ctl --etcd ENDPOINTS --deployment " +
                                             (options_.fleet_deployment.empty() ? std::string("NAME") : options_.fleet_deployment) +
                                             " COMMAND");
      return handler(req, c);
    };
  };
  // Applies an edit (which may fill in an event), answers with the config as it now is.
  auto change = [agg](const Request& req, const std::function<Status(ConfigData&, EventDraft&)>& edit,
                      const std::function<std::string()>& field_on_error) {
    const std::string who = "admin API " + req.method + " " + req.path + " from " + req.remote_addr;
    EventDraft event;
    const Status s = update_config(agg->segment(), who, [&](ConfigData& c) { return edit(c, event); }, &event);
    if (!s.ok()) return refuse(api_error_from(s, field_on_error()));
    ConfigData c;
    if (!read_config(agg->segment().config(), c, agg->segment().geometry().params.endpoint_capacity).ok)
      return http::error_response(500, "the config could not be read back");
    return reply(200, report::config_json(c));
  };

  // Alive: the drain loop completed an interval lately (three intervals at most).
  r.add("GET", "/healthz", [agg](const Request&, const Captures&) {
    auto snap = agg->snapshot();
    const std::uint64_t now = monotonic_ms();
    const std::uint64_t age = snap ? now - std::min(now, snap->monotonic_ms) : 0;
    const std::uint64_t limit = 3ull * (snap ? snap->interval_ms : 1000);
    const bool stalled = !snap || age > limit;
    json body = {{"status", stalled ? "stalled" : "ok"},
                 {"last_interval_unix_ns", snap ? snap->taken_unix_ns : 0},
                 {"last_interval_age_ms", age}};
    return reply(stalled ? 503 : 200, body);
  });
  // Ready: it has drained the rings once, so what it serves reflects the segment.
  r.add("GET", "/readyz", [agg](const Request&, const Captures&) {
    const bool ready = agg->ready() && agg->snapshot() != nullptr;
    return reply(ready ? 200 : 503, {{"status", ready ? "ready" : "starting"}});
  });

  const auto fleet_metrics = options_.fleet_metrics;
  r.add("GET", "/metrics", [agg, not_yet, fleet_metrics](const Request&, const Captures&) {
    auto snap = agg->snapshot();
    if (!snap) return not_yet();
    const std::uint64_t heartbeat = agg->segment().aggregator().heartbeat_unix_ns.load(std::memory_order_relaxed);
    std::string text = report::prometheus_text(*snap, heartbeat, agg->health());
    if (fleet_metrics) text += fleet_metrics();
    text += report::build_and_process_metrics();
    return Response{200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), {}};
  });

  r.add("GET", "/api/v2/admin/canary/metrics", [agg, window_of, not_yet](const Request& req, const Captures&) {
    auto w = window_of(req);
    if (auto* error = std::get_if<Response>(&w)) return *error;
    auto snap = agg->snapshot();
    if (!snap) return not_yet();
    const Window window = std::get<Window>(w);
    return reply(200, report::metrics_json(report::shown_versions(snap->config.get(), [&](std::uint32_t v) {
                                             return snap->total(window, static_cast<Version>(v));
                                           }),
                                           window));
  });

  r.add("GET", "/api/v2/admin/canary/endpoints", [agg, window_of, not_yet](const Request& req, const Captures&) {
    auto w = window_of(req);
    if (auto* error = std::get_if<Response>(&w)) return *error;
    auto snap = agg->snapshot();
    if (!snap) return not_yet();
    return reply(200, report::endpoints_json(*snap, std::get<Window>(w)));
  });

  r.add("GET", "/api/v2/admin/canary/config", [agg](const Request&, const Captures&) {
    ConfigData c;
    if (!read_config(agg->segment().config(), c, agg->segment().geometry().params.endpoint_capacity).ok)
      return http::error_response(500, "the segment's config has no valid copy");
    return reply(200, report::config_json(c));
  });

  r.add("PUT", "/api/v2/admin/canary/config", mutating([change, capacity](const Request& req, const Captures&) {
    auto parsed = parse_config_update(req.body, capacity);
    if (auto* e = std::get_if<ApiError>(&parsed)) return refuse(*e);
    auto update = std::make_shared<ConfigUpdate>(std::get<ConfigUpdate>(std::move(parsed)));
    return change(req, [update](ConfigData& c, EventDraft& e) { return update->apply(c, e); },
                  [update] { return update->failed_field(); });
  }));

  r.add("POST", "/api/v2/admin/canary/config/endpoints", mutating([change, capacity](const Request& req, const Captures&) {
    auto path = parse_endpoint_body(req.body);
    if (auto* e = std::get_if<ApiError>(&path)) return refuse(*e);
    const std::string p = std::get<std::string>(path);
    return change(req, [p, capacity](ConfigData& c, EventDraft&) { return add_endpoint(c, p, capacity); },
                  [] { return "path"; });
  }));

  r.add("DELETE", "/api/v2/admin/canary/config/endpoints", mutating([change](const Request& req, const Captures&) {
    auto path = parse_endpoint_body(req.body);
    if (auto* e = std::get_if<ApiError>(&path)) return refuse(*e);
    const std::string p = std::get<std::string>(path);
    return change(req, [p](ConfigData& c, EventDraft&) { return remove_endpoint(c, p); }, [] { return "path"; });
  }));

  const auto fleet_status = options_.fleet_status;
  r.add("GET", "/api/v2/admin/canary/status", [agg, fleet_status](const Request&, const Captures&) {
    ConfigData c;
    if (!read_config(agg->segment().config(), c, agg->segment().geometry().params.endpoint_capacity).ok)
      return http::error_response(500, "the segment's config has no valid copy");
    auto snap = agg->snapshot();
    const AggregatorArea& area = agg->segment().aggregator();
    const AggregatorHealth& health = agg->health();
    json body = report::config_json(c);
    const VersionEntry& first = c.versions[first_candidate(c)];
    const auto& first_decision = snap ? snap->decisions[first_candidate(c)] : nullptr;
    body["awaiting_approval"] = first.awaiting_approval != 0;
    body["ramp_step"] = first.ramp_step;
    if (first_decision) body["decision"] = report::decision_json(*first_decision);
    // The flag lives in the config (a person clears it there); the numbers are the test's.
    body["srm"] = report::srm_json(first_decision ? first_decision->srm : SrmStatus{}, first.srm_detected != 0);
    // Every candidate's own judgement, by name (the first one's is "decision" and "srm" above).
    json candidates = json::object();
    for (std::uint32_t v : active_candidates(c)) {
      const auto& d = snap ? snap->decisions[v] : nullptr;
      json entry = {{"state", std::string(to_string(static_cast<DeploymentState>(c.versions[v].state)))},
                    {"share", report::share_json(c.versions[v].share_bp)},
                    {"state_reason", std::string(text_of(c.versions[v].state_reason))}};
      if (d) {
        entry["decision"] = report::decision_json(*d);
        entry["srm"] = report::srm_json(d->srm, c.versions[v].srm_detected != 0);
      }
      candidates[std::string(version_name(c, v))] = std::move(entry);
    }
    body["candidates"] = candidates;
    json events = json::array();
    if (snap)
      for (const Event& e : snap->recent_events) events.push_back(report::event_json(e));
    body["events"] = events;
    json checkpoint = failure_json(health.checkpoint);
    checkpoint["restored"] = agg->checkpoint_status();
    const std::uint64_t last_checkpoint = health.last_checkpoint_unix_ns.load(std::memory_order_relaxed);
    if (last_checkpoint != 0) checkpoint["last_written"] = utc_text(last_checkpoint);
    body["aggregator"] = {
        {"pid", area.pid.load(std::memory_order_relaxed)},
        {"interval_ms", area.interval_ms.load(std::memory_order_relaxed)},
        {"heartbeat_unix_ns", area.heartbeat_unix_ns.load(std::memory_order_relaxed)},
        {"last_drain_unix_ns", area.last_drain_unix_ns.load(std::memory_order_relaxed)},
        {"drained_records", snap ? snap->drained_records : 0},
        {"ring_dropped_records", snap ? snap->ring_full_drops + snap->no_ring_drops + snap->reaped_records : 0},
        {"crashed_requests", snap ? snap->crashed_in_flight : 0},
        {"lost_records", snap ? snap->lost_records : 0},
        {"latency_clamped", snap ? snap->latency_clamped : 0},
        {"checkpoint", checkpoint},
        {"journal", failure_json(health.journal)},
        {"event_log", failure_json(health.event_write)},
        {"webhooks", failure_json(health.webhook)},
        {"events_lost", health.events_lost.load(std::memory_order_relaxed)},
    };
    if (snap) body["aggregator"]["memory"] = report::memory_json(snap->memory);
    if (fleet_status) body["fleet"] = fleet_status();
    return reply(200, body);
  });

  // SPEC section 10: a person who found the mismatch's cause lets the ramp go on (the test restarts).
  r.add("POST", "/api/v2/admin/canary/srm/clear", mutating([change](const Request& req, const Captures&) {
    auto parsed = parse_command_body("srm-clear", req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return refuse(*e);
    const CommandRequest cr = std::get<CommandRequest>(parsed);
    return change(req, [&](ConfigData& cfg, EventDraft& e) {
      auto k = pick_candidate(cfg, cr.version);
      return k ? clear_srm(cfg, cr.reason, e, *k) : k.status();
    }, [] { return "version"; });
  }));

  // SPEC section 10: candidates added and retired.
  r.add("POST", "/api/v2/admin/canary/versions", mutating([change](const Request& req, const Captures&) {
    auto parsed = parse_command_body("versions", req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return refuse(*e);
    const CommandRequest cr = std::get<CommandRequest>(parsed);
    return change(req, [&](ConfigData& cfg, EventDraft& e) -> Status {
      auto added = add_version(cfg, cr.name, cr.share_bp);
      if (!added) return added.status();
      e.kind = EventKind::started;
      e.version = *added;
      e.reason = "version " + cr.name + " added at " + format_share_percent(cr.share_bp) + "%";
      return Status::Ok();
    }, [] { return "name"; });
  }));
  r.add("DELETE", "/api/v2/admin/canary/versions/{name}", mutating([change](const Request& req, const Captures& c) {
    const std::string name = c[0];
    return change(req, [&](ConfigData& cfg, EventDraft&) { return remove_version(cfg, name); }, [] { return "name"; });
  }));
  // Blue-green: every user to one version at once, or back to the shares from before.
  r.add("POST", "/api/v2/admin/canary/switch", mutating([change](const Request& req, const Captures&) {
    auto parsed = parse_command_body("switch", req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return refuse(*e);
    const CommandRequest cr = std::get<CommandRequest>(parsed);
    return change(req, [&](ConfigData& cfg, EventDraft& e) -> Status {
      if (cr.back) return switch_back(cfg, cr.reason, e);
      auto v = find_version(cfg, cr.to);
      if (!v) return {Errc::invalid_argument, "unknown version '" + cr.to + "'"};
      return switch_to(cfg, *v, cr.reason, e);
    }, [] { return "to"; });
  }));

  add_experiment_routes(r, agg->segment(), mutating);

  // The deployment's commands: SPEC 5's state table.
  r.add("POST", "/api/v2/admin/canary/{command}", mutating([agg, change](const Request& req, const Captures& c) {
    const std::string& command = c[0];
    if (command == "config" || command == "metrics" || command == "endpoints" || command == "status")
      return http::error_response(405, "method POST is not allowed on " + req.path);
    if (command != "start" && command != "promote" && command != "rollback" && command != "pause" &&
        command != "resume" && command != "approve")
      return http::error_response(404, "no such command: " + command +
                                           " (start, promote, rollback, pause, resume, approve)");
    auto parsed = parse_command_body(command, req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return refuse(*e);
    const CommandRequest cr = std::get<CommandRequest>(parsed);
    auto snap = agg->snapshot();
    return change(
        req,
        [&](ConfigData& cfg, EventDraft& e) {
          auto k = pick_candidate(cfg, cr.version);
          if (!k) return k.status();
          const auto& d = snap ? snap->decisions[*k] : nullptr;
          const bool gate_holds = d && d->judged && d->judgement.gate_holds;
          if (command == "start") {
            StartOptions start = cr.start;
            if (!cr.baseline.empty()) {
              auto b = find_version(cfg, cr.baseline);
              if (!b) return Status{Errc::invalid_argument, "unknown version '" + cr.baseline + "'"};
              start.baseline = *b;
            }
            return start_rollout(cfg, start, cr.reason, e, *k);
          }
          if (command == "promote") return promote(cfg, cr.force, gate_holds, cr.reason, e, *k);
          if (command == "rollback") return roll_back(cfg, cr.reason, e, *k);
          if (command == "pause") return pause(cfg, cr.reason, e, *k);
          if (command == "resume") return resume(cfg, cr.reason, e, *k);
          return approve(cfg, cr.reason, e, *k);
        },
        [] { return "version"; });
  }));
  if (options_.fleet_routes)
    options_.fleet_routes(r, [this](const Request& req) { return authorized(req.header("Authorization")); });
  return r;
}

}  // namespace canary::tools
