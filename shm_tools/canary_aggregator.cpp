// canary-aggregator: the one process that drains the rings, keeps the windows and digests, and
// serves the admin API and /metrics. Workers never wait for it; if it dies, counts stay exact in
// the slabs and a restart picks up from its checkpoint.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>

#include "admin_server.hpp"
#include "webhook_sender.hpp"
#include "canary/aggregator.hpp"
#include "canary/config_edit.hpp"
#include "canary/decision/policy.hpp"
#include "canary/report/decision_json.hpp"
#include "canary/segment.hpp"
#include "tool_common.hpp"

namespace canary::tools {
namespace {

constexpr std::string_view kTool = "canary-aggregator";

std::atomic<bool> g_stop{false};

void request_stop(int) { g_stop.store(true); }

Expected<std::string> read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status{Errc::invalid_argument, "cannot read --admin-token-file '" + path + "'"};
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r\n");
  const auto last = line.find_last_not_of(" \t\r\n");
  if (first == std::string::npos)
    return Status{Errc::invalid_argument, "--admin-token-file '" + path + "' is empty: its first line must hold the token"};
  return line.substr(first, last - first + 1);
}

Expected<Segment> attach_or_create(const std::string& name, bool create) {
  auto attached = Segment::attach(name, Access::read_write);
  if (attached || !create || attached.status().code() != Errc::missing) return attached;
  CreateOptions options;
  options.name = name;
  auto config = make_initial_config({}, options.params.endpoint_capacity);
  if (!config) return config.status();
  auto created = Segment::create(options, *config);
  // Another process may have created it in between: attach to theirs.
  if (!created && created.status().code() == Errc::exists) return Segment::attach(name, Access::read_write);
  return created;
}

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary;
  using namespace canary::tools;
  CLI::App app{"Drain the rings, keep the windows, serve the admin API and /metrics.", "canary-aggregator"};
  std::string segment_name;
  add_segment_option(app, segment_name);
  bool create = false;
  std::string interval = "1000", drain = "10", checkpoint = "10", listen = "127.0.0.1:8081";
  std::string state_dir, token_file, tls_cert, tls_key, policy_file;
  app.add_flag("--create", create, "create the segment (canary-ctl init defaults) when it does not exist");
  app.add_option("--interval-ms", interval, "summaries, windows and slab sums every N ms (default 1000)");
  app.add_option("--drain-ms", drain, "drain the rings every N ms (default 10)");
  app.add_option("--policy", policy_file, "the decision policy, YAML (default: the seed's numbers; docs/policy.md)");
  app.add_option("--state-dir", state_dir, "directory for the checkpoint and the events log (default: none)");
  app.add_option("--checkpoint-s", checkpoint, "write the checkpoint every N seconds (default 10)");
  app.add_option("--listen", listen, "admin API and /metrics address (default 127.0.0.1:8081; port 0: any)");
  app.add_option("--admin-token-file", token_file, "mutating calls need 'Authorization: Bearer' + this file's first line");
  app.add_option("--tls-cert", tls_cert, "serve HTTPS with this certificate (PEM)");
  app.add_option("--tls-key", tls_key, "and this private key (PEM)");
  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;

  AggregatorOptions options;
  auto interval_ms = parse_bounded(interval, "--interval-ms", 10, 60000);
  auto drain_ms = parse_bounded(drain, "--drain-ms", 1, 1000);
  auto checkpoint_s = parse_bounded(checkpoint, "--checkpoint-s", 1, 86400);
  if (!interval_ms) return report_error(kTool, interval_ms.status());
  if (!drain_ms) return report_error(kTool, drain_ms.status());
  if (!checkpoint_s) return report_error(kTool, checkpoint_s.status());
  options.interval_ms = static_cast<std::uint32_t>(*interval_ms);
  options.drain_ms = static_cast<std::uint32_t>(*drain_ms);
  options.checkpoint_s = static_cast<std::uint32_t>(*checkpoint_s);
  options.state_dir = state_dir;
  if (!policy_file.empty()) {
    auto policy = load_policy(policy_file);
    if (!policy) return report_error(kTool, policy.status());
    options.policy = *policy;
  }
  AdminOptions admin;
  if (Status s = parse_listen(listen, admin); !s.ok()) return report_error(kTool, s);
  admin.tls_cert = tls_cert;
  admin.tls_key = tls_key;
  if (!token_file.empty()) {
    auto token = read_token(token_file);
    if (!token) return report_error(kTool, token.status());
    admin.token = *token;
  }

  auto segment = attach_or_create(segment_name, create);
  if (!segment) return report_error(kTool, segment.status());
  auto aggregator = Aggregator::start(*segment, options);
  if (!aggregator) return report_error(kTool, aggregator.status());
  auto server = AdminServer::start(**aggregator, admin);
  if (!server) return report_error(kTool, server.status());

  // Every event in the segment's log, whoever made it: a JSON line in the state directory, and
  // the webhooks the policy names.
  WebhookSender webhooks(options.policy, segment_name);
  const std::string events_path = state_dir.empty() ? "" : state_dir + "/" + segment_name + ".events.jsonl";
  (*aggregator)->on_event([&](const Event& e) {
    if (!events_path.empty()) std::ofstream(events_path, std::ios::app) << report::event_json(e).dump() << '\n';
    webhooks.send(e);
  });

  struct sigaction action {};
  action.sa_handler = request_stop;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::cout << "canary-aggregator: segment '" << segment_name << "', listening on "
            << (tls_cert.empty() ? "http://" : "https://") << admin.host << ":" << (*server)->port()
            << ", interval " << options.interval_ms << " ms, checkpoint: " << (*aggregator)->checkpoint_status()
            << std::endl;
  const Status ended = (*aggregator)->run(g_stop);
  (*server)->stop();
  if (!ended.ok()) {
    std::cerr << kTool << ": " << ended.message() << "; exiting so that a supervisor restarts it on the new segment\n";
    return kExitMissing;
  }
  return kExitOk;
}
