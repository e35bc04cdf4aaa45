// SPDX-License-Identifier: Apache-2.0
// canary-aggregator: the one process that drains the rings, keeps the windows and digests, and
// serves the admin API and /metrics. Workers never wait for it; if it dies, counts stay exact in
// the slabs and a restart picks up from its checkpoint.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <thread>

#include "admin_server.hpp"
#include "etcd_flags.hpp"
#include "supervisor_notify.hpp"
#include "webhook_sender.hpp"
#include "canary/aggregator.hpp"
#include "canary/config_edit.hpp"
#include "canary/decision/policy.hpp"
#include "canary/fleet/host_agent.hpp"
#include "canary/fleet/host_http.hpp"
#include "canary/log.hpp"
#include "canary/report/decision_json.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/state_files.hpp"
#include "tool_common.hpp"

namespace canary::tools {
namespace {

constexpr std::string_view kTool = "canary-aggregator";

Expected<std::string> read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status{Errc::invalid_argument, "cannot read --admin-token-file '" + path + "'"};
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r\n");
  const auto last = line.find_last_not_of(" \t\r\n");
  if (first == std::string::npos)
    return Status{Errc::invalid_argument, "--admin-token-file '" + path + "' is empty: its first line must hold the token"};
  warn_if_world_readable(path, "--admin-token-file");
  return line.substr(first, last - first + 1);
}

// `created` tells whether this process made it (and must remove it again if it cannot start).
Expected<Segment> attach_or_create(const std::string& name, bool create, bool& created) {
  created = false;
  auto attached = Segment::attach(name, Access::read_write);
  if (attached || !create || attached.status().code() != Errc::missing) return attached;
  CreateOptions options;
  options.name = name;
  auto config = make_initial_config({}, options.params.endpoint_capacity);
  if (!config) return config.status();
  auto made = Segment::create(options, *config);
  // Another process may have created it in between: attach to theirs.
  if (!made && made.status().code() == Errc::exists) return Segment::attach(name, Access::read_write);
  created = made.ok();
  return made;
}

// A segment this start created goes again when the start fails: a failed `--create` leaves
// nothing behind (a segment no aggregator serves would be attached to by workers, and left so).
class RemoveIfStartFails {
 public:
  RemoveIfStartFails(std::string name, bool created) : name_(std::move(name)), created_(created) {}
  ~RemoveIfStartFails() {
    if (created_ && !started_) (void)Segment::destroy(name_);
  }
  void started() { started_ = true; }

 private:
  std::string name_;
  bool created_;
  bool started_ = false;
};

// Every event, whoever made it, as a log line: rollbacks as warnings, the rest as information.
void log_event(const Event& e, const std::string& segment) {
  const bool alarming = e.kind == EventKind::rolled_back || e.kind == EventKind::inconclusive || e.kind == EventKind::srm_detected;
  log(alarming ? LogLevel::warn : LogLevel::info,
      "deployment event",
      {{"segment", segment},
       {"seq", e.seq},
       {"kind", to_string(e.kind)},
       {"from", to_string(e.from)},
       {"to", to_string(e.to)},
       {"share_before", format_share_percent(e.share_before_bp)},
       {"share_after", format_share_percent(e.share_after_bp)},
       {"actor", e.actor},
       {"reason", e.reason}});
}

// SIGTERM and SIGINT stop the aggregator (a last drain and checkpoint); SIGHUP reloads the policy
// file, keeping the old policy when the new one is refused. The signals are blocked in every
// thread and taken here with sigtimedwait, so nothing runs in a signal handler.
class SignalThread {
 public:
  SignalThread(std::atomic<bool>& stop, std::function<void()> reload) : stop_(stop), reload_(std::move(reload)) {
    thread_ = std::thread([this] { run(); });
  }
  ~SignalThread() {
    done_.store(true);
    thread_.join();
  }
  static void block_in_this_thread() {
    sigset_t set = signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

 private:
  static sigset_t signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    return set;
  }
  void run() {
    const sigset_t set = signals();
    const timespec tick{0, 100'000'000};
    while (!done_.load()) {
      const int s = sigtimedwait(&set, nullptr, &tick);
      if (s == SIGHUP) reload_();
      if (s == SIGTERM || s == SIGINT) stop_.store(true);
    }
  }

  std::atomic<bool>& stop_;
  std::function<void()> reload_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary;
  using namespace canary::tools;
  // Before any thread exists, so that every thread inherits the mask.
  SignalThread::block_in_this_thread();
  signal(SIGPIPE, SIG_IGN);
  // A file-size limit (ulimit -f) must fail a write, which is counted, not kill the process.
  signal(SIGXFSZ, SIG_IGN);

  CLI::App app{"Drain the rings, keep the windows, serve the admin API and /metrics.", "canary-aggregator"};
  add_version_flag(app, "canary-aggregator");
  std::string segment_name;
  add_segment_option(app, segment_name);
  bool create = false;
  std::string interval = "1000", drain = "10", checkpoint = "10", listen = "127.0.0.1:8081", log_format = "logfmt";
  std::string state_dir, token_file, tls_cert, tls_key, policy_file;
  app.add_flag("--create", create, "create the segment (canary-ctl init defaults) when it does not exist");
  app.add_option("--interval-ms", interval, "summaries, windows and slab sums every N ms (default 1000)");
  std::string experiment_users = "1000000";
  app.add_option("--experiment-users", experiment_users,
                 "at most this many users with experiment state, over all experiments (default 1000000: 20-40 MB with one metric each, 47-94 MB with four)");
  std::string memory_limit;
  app.add_option("--memory-limit", memory_limit,
                 "BYTES (K, M, G): past this estimate the 1h, 6h and 24h windows keep coarser buckets (default: no limit; docs/aggregator.md)");
  app.add_option("--drain-ms", drain, "drain the rings every N ms (default 10)");
  app.add_option("--policy", policy_file, "the decision policy, YAML (default: the seed's numbers; docs/policy.md); SIGHUP reloads it");
  app.add_option("--state-dir", state_dir, "directory for the checkpoint, the journal and the events log (default: none)");
  app.add_option("--checkpoint-s", checkpoint, "write the checkpoint every N seconds (default 10)");
  app.add_option("--listen", listen, "admin API and /metrics address (default 127.0.0.1:8081; port 0: any)");
  app.add_option("--admin-token-file", token_file, "mutating calls need 'Authorization: Bearer' + this file's first line");
  app.add_option("--tls-cert", tls_cert, "serve HTTPS with this certificate (PEM)");
  app.add_option("--tls-key", tls_key, "and this private key (PEM)");
  app.add_option("--log-format", log_format, "log lines on stderr: logfmt (default) or json");
  EtcdFlags etcd_flags;
  add_etcd_options(app, etcd_flags);
  std::string deployment, host_id, region, advertise, lease_ttl = "5";
  app.add_option("--deployment", deployment, "fleet mode: the deployment this host belongs to");
  app.add_option("--host-id", host_id, "fleet mode: this host's id in the fleet");
  app.add_option("--region", region, "fleet mode: this host's region");
  app.add_option("--advertise", advertise, "fleet mode: the URL the controller pulls from (default: the --listen address)");
  app.add_option("--lease-ttl", lease_ttl, "fleet mode: the registration lease in seconds (default 5)");
  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;

  const auto format = parse_log_format(log_format);
  if (!format) return report_error(kTool, {Errc::invalid_argument, "--log-format must be logfmt or json"});
  set_log_format(*format);
  AggregatorOptions options;
  auto interval_ms = parse_bounded(interval, "--interval-ms", 10, 60000);
  auto drain_ms = parse_bounded(drain, "--drain-ms", 1, 1000);
  auto checkpoint_s = parse_bounded(checkpoint, "--checkpoint-s", 1, 86400);
  if (!interval_ms) return report_error(kTool, interval_ms.status());
  if (!drain_ms) return report_error(kTool, drain_ms.status());
  if (!checkpoint_s) return report_error(kTool, checkpoint_s.status());
  auto max_users = parse_bounded(experiment_users, "--experiment-users", 1, 100'000'000);
  if (!max_users) return report_error(kTool, max_users.status());
  options.experiment_users = *max_users;
  if (!memory_limit.empty()) {
    auto limit = parse_bytes(memory_limit, "--memory-limit", 1 << 20);
    if (!limit) return report_error(kTool, limit.status());
    options.memory_limit_bytes = *limit;
  }
  options.interval_ms = static_cast<std::uint32_t>(*interval_ms);
  options.drain_ms = static_cast<std::uint32_t>(*drain_ms);
  options.checkpoint_s = static_cast<std::uint32_t>(*checkpoint_s);
  options.state_dir = state_dir;
  if (!state_dir.empty()) {
    if (Status s = check_state_dir(state_dir); !s.ok()) return report_error(kTool, s);
  }
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
  if (!is_loopback(admin.host) && (admin.token.empty() || admin.tls_cert.empty()))
    log(LogLevel::warn, "the admin API listens beyond this host without a token and TLS: anyone who reaches it can roll back or promote",
        {{"listen", listen}, {"token", !admin.token.empty()}, {"tls", !admin.tls_cert.empty()}});

  // Fleet mode: all of its flags, checked before anything starts.
  const bool in_fleet = !etcd_flags.endpoints.empty();
  fleet::HostOptions host;
  if (in_fleet) {
    auto etcd = etcd_options(etcd_flags);
    if (!etcd) return report_error(kTool, etcd.status());
    if (deployment.empty() || host_id.empty() || region.empty())
      return report_error(kTool, {Errc::invalid_argument, "--etcd needs --deployment, --host-id and --region"});
    auto ttl = parse_bounded(lease_ttl, "--lease-ttl", 2, 3600);
    if (!ttl) return report_error(kTool, ttl.status());
    host.etcd = std::move(*etcd);
    host.deployment = deployment;
    host.host_id = host_id;
    host.region = region;
    host.lease_ttl_s = static_cast<std::int64_t>(*ttl);
    host.interval_ms = options.interval_ms;
  } else if (!deployment.empty() || !host_id.empty() || !region.empty() || !advertise.empty()) {
    return report_error(kTool, {Errc::invalid_argument, "--deployment, --host-id, --region and --advertise need --etcd"});
  }
  std::unique_ptr<fleet::HostAgent> agent;  // fleet mode: started once the server's port is known
  if (in_fleet) {
    admin.fleet_deployment = deployment;
    admin.fleet_routes = [&agent](http::Router& r, std::function<bool(const http::Request&)> authorized) {
      fleet::add_host_routes(r, [&agent] { return agent.get(); }, std::move(authorized));
    };
    admin.fleet_status = [&agent] { return agent ? fleet::host_status_json(*agent) : nlohmann::json(); };
    admin.fleet_metrics = [&agent] { return agent ? fleet::host_metrics(*agent) : std::string(); };
  }

  bool created = false;
  auto segment = attach_or_create(segment_name, create, created);
  if (!segment) return report_error(kTool, segment.status());
  RemoveIfStartFails cleanup(segment_name, created);
  auto aggregator = Aggregator::start(*segment, options);
  if (!aggregator) return report_error(kTool, aggregator.status());
  Aggregator& agg = **aggregator;
  auto server = AdminServer::start(agg, admin);
  if (!server) return report_error(kTool, server.status());
  agg.set_http_memory([s = server->get()] { return s->heap_bytes(); });
  if (in_fleet) {
    host.advertise = !advertise.empty() ? advertise
                                        : std::string(tls_cert.empty() ? "http://" : "https://") + admin.host + ":" +
                                              std::to_string((*server)->port());
    auto started = fleet::HostAgent::start(*segment, agg, host);
    if (!started) return report_error(kTool, started.status());
    agent = std::move(*started);
  }
  cleanup.started();

  // Every event in the segment's log, whoever made it: a log line, a JSON line in the state
  // directory, and the webhooks the policy names.
  WebhookSender webhooks(options.policy, segment_name, agg.health().webhook);
  std::optional<LineFile> events_file;
  if (!state_dir.empty()) events_file.emplace(state_dir + "/" + segment_name + ".events.jsonl");
  agg.on_event([&](const Event& e) {
    log_event(e, segment_name);
    if (events_file) {
      if (Status s = events_file->append(report::event_json(e).dump()); !s.ok()) {
        agg.health().event_write.record(s.message());
        log(LogLevel::error, "event not written to the events file",
            {{"segment", segment_name}, {"seq", e.seq}, {"error", s.message()}});
      }
    }
    webhooks.send(e);
  });

  std::atomic<bool> stop{false};
  SignalThread signals(stop, [&] {
    if (policy_file.empty()) {
      log(LogLevel::info, "SIGHUP: no --policy file to reload", {{"segment", segment_name}});
      return;
    }
    notify_supervisor("RELOADING=1");
    auto policy = load_policy(policy_file);
    if (!policy) {
      log(LogLevel::error, "SIGHUP: the policy file was refused; the previous policy stays",
          {{"segment", segment_name}, {"error", policy.status().message()}});
      notify_supervisor("READY=1");
      return;
    }
    agg.set_policy(*policy);
    webhooks.set_policy(*policy);
    log(LogLevel::info, "SIGHUP: policy reloaded", {{"segment", segment_name}, {"policy", policy_file}});
    notify_supervisor("READY=1");
  });

  std::cout << "canary-aggregator: segment '" << segment_name << "', listening on "
            << (tls_cert.empty() ? "http://" : "https://") << admin.host << ":" << (*server)->port()
            << ", interval " << options.interval_ms << " ms, checkpoint: " << agg.checkpoint_status() << std::endl;
  // Signals are handled from here on: a supervisor may reload or stop it.
  notify_supervisor("READY=1\nSTATUS=draining segment " + segment_name);
  const Status ended = agg.run(stop);
  notify_supervisor("STOPPING=1");
  (*server)->stop();
  agent.reset();  // leaves the fleet: the registration goes with the lease
  if (!ended.ok()) {
    log(LogLevel::error, "exiting so that a supervisor restarts it on the new segment",
        {{"segment", segment_name}, {"reason", ended.message()}});
    return kExitMissing;
  }
  log(LogLevel::info, "stopped", {{"segment", segment_name}});
  return kExitOk;
}
