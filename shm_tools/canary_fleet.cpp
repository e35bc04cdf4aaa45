// SPDX-License-Identifier: Apache-2.0
// canary-fleet: the fleet controller (SPEC section 11). Run two or more: one leads through etcd,
// the others stand by and take over when its lease lapses. Serves the fleet's admin API and
// /metrics on --listen (127.0.0.1:8082 by default).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>

#include "admin_server.hpp"
#include "etcd_flags.hpp"
#include "canary/fleet/controller.hpp"
#include "canary/fleet/controller_http.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/http/server.hpp"
#include "canary/log.hpp"
#include "tool_common.hpp"

namespace {

constexpr std::string_view kTool = "canary-fleet";
std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  using namespace canary;
  using namespace canary::tools;
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{"The fleet controller: merges every host's intervals, judges per region and fleet-wide, writes decisions to etcd.",
               "canary-fleet"};
  add_version_flag(app, "canary-fleet");
  EtcdFlags etcd_flags;
  add_etcd_options(app, etcd_flags);
  std::string deployment, id, listen = "127.0.0.1:8082", advertise, lease_ttl = "5", interval = "1000", token_file, log_format = "logfmt";
  std::string checkpoint = "10";
  app.add_option("--deployment", deployment, "the deployment this controller runs")->required();
  app.add_option("--id", id, "this controller's name in the leader key (default HOSTNAME-PID)");
  app.add_option("--listen", listen, "admin API and /metrics address (default 127.0.0.1:8082; port 0: any)");
  app.add_option("--advertise", advertise, "the URL canary-ctl reaches this controller at (default: the --listen address)");
  app.add_option("--lease-ttl", lease_ttl, "the leadership lease in seconds (default 5)");
  app.add_option("--interval-ms", interval, "merge and judge every N ms (default 1000)");
  app.add_option("--checkpoint-s", checkpoint, "write the merged state to etcd every N seconds (default 10, at most 300)");
  app.add_option("--host-token-file", token_file, "the hosts' admin token (first line), sent when pulling their intervals");
  app.add_option("--log-format", log_format, "log lines on stderr: logfmt (default) or json");
  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;

  const auto format = parse_log_format(log_format);
  if (!format) return report_error(kTool, {Errc::invalid_argument, "--log-format must be logfmt or json"});
  set_log_format(*format);
  if (etcd_flags.endpoints.empty()) return report_error(kTool, {Errc::invalid_argument, "--etcd is required"});
  auto etcd = etcd_options(etcd_flags);
  if (!etcd) return report_error(kTool, etcd.status());
  if (std::string why = fleet::fleet_name_problem("--deployment", deployment); !why.empty())
    return report_error(kTool, {Errc::invalid_argument, why});
  if (id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    id = std::string(host) + "-" + std::to_string(getpid());
  }
  auto ttl = parse_bounded(lease_ttl, "--lease-ttl", 2, 3600);
  auto interval_ms = parse_bounded(interval, "--interval-ms", 100, 60000);
  if (!ttl) return report_error(kTool, ttl.status());
  if (!interval_ms) return report_error(kTool, interval_ms.status());
  auto checkpoint_s = parse_bounded(checkpoint, "--checkpoint-s", 1, 300);
  if (!checkpoint_s) return report_error(kTool, checkpoint_s.status());
  AdminOptions where;
  if (Status s = parse_listen(listen, where); !s.ok()) return report_error(kTool, s);

  fleet::ControllerOptions options;
  options.etcd = std::move(*etcd);
  options.deployment = deployment;
  options.id = id;
  options.lease_ttl_s = static_cast<std::int64_t>(*ttl);
  options.interval_ms = static_cast<std::uint32_t>(*interval_ms);
  options.checkpoint_ms = *checkpoint_s * 1000;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in || !std::getline(in, options.host_token) || options.host_token.empty())
      return report_error(kTool, {Errc::invalid_argument, "cannot read a token from --host-token-file '" + token_file + "'"});
    warn_if_world_readable(token_file, "--host-token-file");
  }

  // The controller's routes read its view: the server starts first so the advertised port is known.
  auto controller = std::make_unique<fleet::FleetController>(options);
  http::ServerOptions server_options;
  server_options.host = where.host;
  server_options.port = where.port;
  auto server = http::Server::listen(server_options, fleet::controller_routes(*controller));
  if (!server) return report_error(kTool, server.status());
  controller->set_advertise(advertise.empty() ? "http://" + where.host + ":" + std::to_string((*server)->port()) : advertise);

  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  std::cout << "canary-fleet: deployment '" << deployment << "', controller '" << id << "', listening on http://"
            << where.host << ":" << (*server)->port() << std::endl;
  controller->run(g_stop);
  (*server)->stop();
  log(LogLevel::info, "stopped", {{"deployment", deployment}, {"controller", id}});
  return kExitOk;
}
