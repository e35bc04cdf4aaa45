// SPDX-License-Identifier: Apache-2.0
// The aggregator's HTTP side: the admin API of SPEC 6, /metrics, /healthz and /readyz, on the
// project's HTTP server (canary/http/server.hpp). Reads come from the aggregator's latest
// snapshot; changes go through update_config().
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "canary/aggregator.hpp"
#include "canary/http/router.hpp"
#include "canary/http/server.hpp"
#include "canary/status.hpp"

namespace canary::tools {

struct AdminOptions {
  std::string host = "127.0.0.1";
  int port = 8081;    // 0: any free port (port() tells which)
  std::string token;  // empty: mutating calls need no token
  std::string tls_cert, tls_key;
  // Fleet mode (canary-aggregator --etcd): the deployment (named in refusals), the host's own
  // routes (its interval feed; `authorized` checks the admin token), and its fleet status for
  // /status and /metrics.
  std::string fleet_deployment;
  std::function<void(http::Router&, std::function<bool(const http::Request&)> authorized)> fleet_routes;
  std::function<nlohmann::json()> fleet_status;
  std::function<std::string()> fleet_metrics;
};

class AdminServer {
 public:
  // Errc::busy when the address is in use (by another aggregator, say): it is never shared.
  static Expected<std::unique_ptr<AdminServer>> start(Aggregator& aggregator, const AdminOptions& options);
  int port() const { return server_->port(); }
  // What its connections hold (http::Server::heap_bytes), for the aggregator's memory estimate.
  std::size_t heap_bytes() const { return server_->heap_bytes(); }
  void stop() { server_->stop(); }

 private:
  AdminServer() = default;
  http::Router routes();
  bool authorized(const std::string& authorization_header) const;

  Aggregator* aggregator_ = nullptr;
  AdminOptions options_;
  std::unique_ptr<http::Server> server_;
};

// "HOST:PORT" -> options.host, options.port.
Status parse_listen(const std::string& text, AdminOptions& options);

// True for 127.0.0.0/8, ::1 and "localhost": an address only this host can reach.
bool is_loopback(const std::string& host);

}  // namespace canary::tools
