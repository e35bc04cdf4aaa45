// The aggregator's HTTP side (cpp-httplib): the admin API of SPEC 6, /metrics and /healthz.
// Reads come from the aggregator's latest snapshot; changes go through update_config().
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "canary/aggregator.hpp"
#include "canary/status.hpp"

namespace httplib {
class Server;
}

namespace canary::tools {

struct AdminOptions {
  std::string host = "127.0.0.1";
  int port = 8081;             // 0: any free port (port() tells which)
  std::string token;           // empty: mutating calls need no token
  std::string tls_cert, tls_key;
};

class AdminServer {
 public:
  static Expected<std::unique_ptr<AdminServer>> start(Aggregator& aggregator, const AdminOptions& options);
  ~AdminServer();
  int port() const { return port_; }
  void stop();

 private:
  AdminServer() = default;
  void routes();
  bool authorized(const std::string& authorization_header) const;

  Aggregator* aggregator_ = nullptr;
  AdminOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// "HOST:PORT" -> options.host, options.port.
Status parse_listen(const std::string& text, AdminOptions& options);

}  // namespace canary::tools
