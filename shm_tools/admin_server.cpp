#include "admin_server.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <httplib.h>

#include <charconv>
#include <variant>

#include "admin_config.hpp"
#include "canary/clock.hpp"
#include "canary/config_edit.hpp"
#include "canary/deployment.hpp"
#include "canary/report/decision_json.hpp"
#include "canary/report/prometheus.hpp"
#include "canary/report/seed_json.hpp"
#include "canary/segment.hpp"

namespace canary::tools {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr const char* kJson = "application/json";

void send(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", kJson);
}

void send_error(httplib::Response& res, const ApiError& e) {
  json body = {{"error", e.message}};
  if (!e.field.empty()) body["field"] = e.field;
  send(res, e.http_status, body);
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> sha256(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
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
  options.port = port;
  return Status::Ok();
}

Expected<std::unique_ptr<AdminServer>> AdminServer::start(Aggregator& aggregator, const AdminOptions& options) {
  std::unique_ptr<AdminServer> s(new AdminServer());
  s->aggregator_ = &aggregator;
  s->options_ = options;
  if (options.tls_cert.empty() != options.tls_key.empty())
    return Status{Errc::invalid_argument, "--tls-cert and --tls-key go together"};
  if (!options.tls_cert.empty()) {
    s->server_ = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!s->server_->is_valid())
      return Status{Errc::invalid_argument, "cannot load the TLS certificate '" + options.tls_cert + "' and key '" + options.tls_key + "'"};
  } else {
    s->server_ = std::make_unique<httplib::Server>();
  }
  s->server_->set_payload_max_length(kMaxBodyBytes);
  s->routes();
  s->port_ = options.port == 0 ? s->server_->bind_to_any_port(options.host)
                                : (s->server_->bind_to_port(options.host, options.port) ? options.port : -1);
  if (s->port_ <= 0)
    return Status{Errc::system, "cannot listen on " + options.host + ":" + std::to_string(options.port)};
  s->thread_ = std::thread([server = s->server_.get()] { server->listen_after_bind(); });
  return s;
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool AdminServer::authorized(const std::string& header) const {
  if (options_.token.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (header.compare(0, kBearer.size(), kBearer) != 0) return false;
  // Hash both sides first, so the comparison takes the same time whatever the lengths.
  const auto given = sha256(std::string_view(header).substr(kBearer.size()));
  const auto wanted = sha256(options_.token);
  return CRYPTO_memcmp(given.data(), wanted.data(), given.size()) == 0;
}

void AdminServer::routes() {
  httplib::Server& http = *server_;
  Aggregator* const agg = aggregator_;  // outlives the server; captured by value below
  const std::uint32_t capacity = agg->segment().geometry().params.endpoint_capacity;

  auto snapshot_or_503 = [agg](httplib::Response& res) {
    auto snap = agg->snapshot();
    if (!snap) send_error(res, {503, "the aggregator has not finished its first interval", ""});
    return snap;
  };
  auto window_of = [](const httplib::Request& req, httplib::Response& res) -> std::optional<Window> {
    if (!req.has_param("window")) return Window::all;
    auto w = parse_window(req.get_param_value("window"));
    if (!w) send_error(res, {400, "window must be one of 5m, 1h, 6h, 24h, all", "window"});
    return w;
  };
  // Wraps a mutating handler: token first, then the change.
  auto mutating = [this](auto handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req.get_header_value("Authorization"))) {
        res.set_header("WWW-Authenticate", "Bearer");
        return send_error(res, {401, "a valid 'Authorization: Bearer TOKEN' header is required", ""});
      }
      handler(req, res);
    };
  };
  // Applies an edit (which may fill in an event), answers with the config as it now is.
  auto change = [agg](const httplib::Request& req, httplib::Response& res,
                      const std::function<Status(ConfigData&, EventDraft&)>& edit,
                      const std::function<std::string()>& field_on_error) {
    const std::string who = "admin API " + req.method + " " + req.path + " from " + req.remote_addr;
    EventDraft event;
    const Status s = update_config(agg->segment(), who, [&](ConfigData& c) { return edit(c, event); }, &event);
    if (!s.ok()) return send_error(res, api_error_from(s, field_on_error()));
    ConfigData c;
    if (!read_config(agg->segment().config(), c, agg->segment().geometry().params.endpoint_capacity).ok)
      return send_error(res, {500, "the config could not be read back", ""});
    send(res, 200, report::config_json(c));
  };

  http.Get("/healthz", [agg](const httplib::Request&, httplib::Response& res) {
    auto snap = agg->snapshot();
    send(res, 200, {{"status", "ok"}, {"last_interval_unix_ns", snap ? snap->taken_unix_ns : 0}});
  });

  http.Get("/metrics", [agg, snapshot_or_503](const httplib::Request&, httplib::Response& res) {
    auto snap = snapshot_or_503(res);
    if (!snap) return;
    const std::uint64_t heartbeat = agg->segment().aggregator().heartbeat_unix_ns.load(std::memory_order_relaxed);
    res.set_content(report::prometheus_text(*snap, heartbeat), "text/plain; version=0.0.4; charset=utf-8");
  });

  http.Get("/api/v2/admin/canary/metrics", [snapshot_or_503, window_of](const httplib::Request& req, httplib::Response& res) {
    auto w = window_of(req, res);
    if (!w) return;
    auto snap = snapshot_or_503(res);
    if (!snap) return;
    json body = report::metrics_json(snap->total(*w, Version::legacy), snap->total(*w, Version::canary), *w);
    send(res, 200, body);
  });

  http.Get("/api/v2/admin/canary/endpoints", [snapshot_or_503, window_of](const httplib::Request& req, httplib::Response& res) {
    auto w = window_of(req, res);
    if (!w) return;
    auto snap = snapshot_or_503(res);
    if (!snap) return;
    send(res, 200, report::endpoints_json(*snap, *w));
  });

  http.Get("/api/v2/admin/canary/config", [agg](const httplib::Request&, httplib::Response& res) {
    ConfigData c;
    if (!read_config(agg->segment().config(), c, agg->segment().geometry().params.endpoint_capacity).ok)
      return send_error(res, {500, "the segment's config has no valid copy", ""});
    send(res, 200, report::config_json(c));
  });

  http.Put("/api/v2/admin/canary/config", mutating([change, capacity](const httplib::Request& req, httplib::Response& res) {
    auto parsed = parse_config_update(req.body, capacity);
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    auto update = std::make_shared<ConfigUpdate>(std::get<ConfigUpdate>(std::move(parsed)));
    change(req, res, [update](ConfigData& c, EventDraft& e) { return update->apply(c, e); },
           [update] { return update->failed_field(); });
  }));

  http.Post("/api/v2/admin/canary/config/endpoints", mutating([change, capacity](const httplib::Request& req, httplib::Response& res) {
    auto path = parse_endpoint_body(req.body);
    if (auto* e = std::get_if<ApiError>(&path)) return send_error(res, *e);
    const std::string p = std::get<std::string>(path);
    change(req, res, [p, capacity](ConfigData& c, EventDraft&) { return add_endpoint(c, p, capacity); },
           [] { return "path"; });
  }));

  http.Delete("/api/v2/admin/canary/config/endpoints", mutating([change](const httplib::Request& req, httplib::Response& res) {
    auto path = parse_endpoint_body(req.body);
    if (auto* e = std::get_if<ApiError>(&path)) return send_error(res, *e);
    const std::string p = std::get<std::string>(path);
    change(req, res, [p](ConfigData& c, EventDraft&) { return remove_endpoint(c, p); }, [] { return "path"; });
  }));

  // The deployment's commands: SPEC 5's state table.
  http.Post(R"(/api/v2/admin/canary/(start|promote|rollback|pause|resume|approve))",
            mutating([agg, change](const httplib::Request& req, httplib::Response& res) {
              const std::string command = req.matches[1];
              auto parsed = parse_command_body(command, req.body);
              if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
              const CommandRequest r = std::get<CommandRequest>(parsed);
              auto snap = agg->snapshot();
              const bool gate_holds = snap && snap->decision && snap->decision->judged && snap->decision->judgement.gate_holds;
              change(
                  req, res,
                  [&](ConfigData& c, EventDraft& e) {
                    if (command == "start") return start_rollout(c, r.start, r.reason, e);
                    if (command == "promote") return promote(c, r.force, gate_holds, r.reason, e);
                    if (command == "rollback") return roll_back(c, r.reason, e);
                    if (command == "pause") return pause(c, r.reason, e);
                    if (command == "resume") return resume(c, r.reason, e);
                    return approve(c, r.reason, e);
                  },
                  [] { return ""; });
            }));

  http.Get("/api/v2/admin/canary/status", [agg](const httplib::Request&, httplib::Response& res) {
    ConfigData c;
    if (!read_config(agg->segment().config(), c, agg->segment().geometry().params.endpoint_capacity).ok)
      return send_error(res, {500, "the segment's config has no valid copy", ""});
    auto snap = agg->snapshot();
    const AggregatorArea& area = agg->segment().aggregator();
    json body = report::config_json(c);
    body["awaiting_approval"] = c.awaiting_approval != 0;
    body["ramp_step"] = c.ramp_step;
    if (snap && snap->decision) body["decision"] = report::decision_json(*snap->decision);
    json events = json::array();
    if (snap)
      for (const Event& e : snap->recent_events) events.push_back(report::event_json(e));
    body["events"] = events;
    body["aggregator"] = {
        {"pid", area.pid.load(std::memory_order_relaxed)},
        {"interval_ms", area.interval_ms.load(std::memory_order_relaxed)},
        {"heartbeat_unix_ns", area.heartbeat_unix_ns.load(std::memory_order_relaxed)},
        {"last_drain_unix_ns", area.last_drain_unix_ns.load(std::memory_order_relaxed)},
        {"drained_records", snap ? snap->drained_records : 0},
        {"ring_dropped_records", snap ? snap->ring_full_drops + snap->no_ring_drops + snap->reaped_records : 0},
        {"checkpoint", agg->checkpoint_status()},
    };
    send(res, 200, body);
  });

  // Everything httplib answers on its own (404 for unknown paths, 413 for large bodies, 405...)
  // gets a JSON body too.
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = res.status == 413   ? "the body is larger than 64 KiB"
                          : res.status == 404 ? "no such resource"
                                              : "request refused";
    send(res, res.status, {{"error", message}});
  });
}

}  // namespace canary::tools
