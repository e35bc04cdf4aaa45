// SPDX-License-Identifier: Apache-2.0
// canary-demo-server: the pre-forked worker pool canary-shm is built for. The master attaches,
// binds the port and forks the workers; each worker accepts on the shared socket with a few
// threads, routes and records every request through <canary/writer.hpp>. A worker that dies is
// replaced; SIGTERM or SIGINT stops the master and every worker.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "control.hpp"
#include "service.hpp"
#include "canary/http/server.hpp"
#include "canary/segment.hpp"
#include "canary/writer.hpp"
#include "tool_common.hpp"

namespace canary::demo {
namespace {

constexpr std::string_view kTool = "canary-demo-server";

volatile sig_atomic_t g_stop = 0;
void request_stop(int) { g_stop = 1; }

struct Options {
  std::string segment;
  std::string host = "127.0.0.1";
  std::uint64_t port = 8080;
  std::uint64_t workers = 0;
  std::uint64_t threads = 4;
};

// The socket every worker accepts on. SO_REUSEADDR only (a restart may bind while old connections
// sit in TIME_WAIT); never SO_REUSEPORT, so a second server on the port fails instead of sharing it.
Expected<int> listen_on(const std::string& host, std::uint64_t port) {
  const std::string where = host + ":" + std::to_string(port);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &address.sin_addr) != 1)
    return Status{Errc::invalid_argument, "cannot listen on " + where + ": '" + host + "' is not an IPv4 address"};
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    return Status{Errc::system, "cannot listen on " + where + ": " + std::strerror(err)};
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// A worker: its own server threads on the shared socket, until the master's SIGTERM ends it
// (default disposition: stopping cleanly would gain nothing, and the socket is the master's).
[[noreturn]] void run_worker(int listen_fd, std::size_t threads, Control& control, const std::string& segment) {
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  http::ServerOptions options;
  options.threads = static_cast<unsigned>(threads);
  options.max_body_bytes = kMaxBodyBytes;
  auto server = http::Server::adopt(listen_fd, options, make_routes(control, segment));
  if (!server) {
    std::fprintf(stderr, "%s: worker %d: %s\n", kTool.data(), static_cast<int>(getpid()), server.status().message().c_str());
    _exit(1);
  }
  while (true) pause();
}

pid_t fork_worker(int listen_fd, std::size_t threads, Control& control, const std::string& segment) {
  const pid_t pid = fork();
  if (pid == 0) run_worker(listen_fd, threads, control, segment);
  return pid;
}

int serve(const Options& o, Control& control) {
  // Fails open: without the segment every request is served legacy and nothing is recorded.
  if (!attach(o.segment)) std::fprintf(stderr, "%s: serving everyone legacy, recording nothing\n", kTool.data());
  const std::string segment = o.segment.empty() ? default_segment_name() : o.segment;
  auto listening = listen_on(o.host, o.port);
  if (!listening) return tools::report_error(kTool, listening.status());
  const int listen_fd = *listening;
  const int port = bound_port(listen_fd);

  struct sigaction stop {};
  stop.sa_handler = request_stop;  // no SA_RESTART: waitpid returns to check g_stop
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);

  std::vector<pid_t> workers;
  for (std::uint64_t i = 0; i < o.workers; ++i) workers.push_back(fork_worker(listen_fd, o.threads, control, segment));
  std::printf("%s: listening on http://%s:%d with %zu workers (pids", kTool.data(), o.host.c_str(), port,
              workers.size());
  for (pid_t p : workers) std::printf(" %d", static_cast<int>(p));
  std::printf(")\n");
  std::fflush(stdout);

  while (!g_stop) {
    int wstatus = 0;
    const pid_t dead = waitpid(-1, &wstatus, 0);
    if (dead <= 0) continue;
    for (pid_t& p : workers) {
      if (p != dead || g_stop) continue;
      p = fork_worker(listen_fd, o.threads, control, segment);
      std::printf("%s: worker %d %s; started worker %d\n", kTool.data(), static_cast<int>(dead),
                  WIFSIGNALED(wstatus) ? strsignal(WTERMSIG(wstatus)) : "exited", static_cast<int>(p));
      std::fflush(stdout);
    }
  }
  for (pid_t p : workers) kill(p, SIGTERM);
  for (pid_t p : workers) waitpid(p, nullptr, 0);
  return 0;
}

}  // namespace
}  // namespace canary::demo

int main(int argc, char** argv) {
  using namespace canary;
  using namespace canary::demo;
  CLI::App app{"A pre-forked HTTP server with the seed's seven endpoints, routed and recorded by canary-shm.",
               std::string(kTool)};
  canary::tools::add_version_flag(app, "canary-demo-server");
  Options o;
  tools::add_segment_option(app, o.segment);
  std::string port = "8080", workers, threads = "4", error_rate = "0", crash_rate = "0", extra_latency = "0", work_us = "0";
  bool no_record = false;
  app.add_option("--host", o.host, "address to listen on (default 127.0.0.1)");
  app.add_option("--port", port, "port to listen on (default 8080; 0: any free port)");
  app.add_option("--workers", workers, "worker processes (default: the number of CPUs)");
  app.add_option("--threads", threads, "threads per worker (default 4)");
  app.add_option("--canary-error-rate", error_rate, "inject a regression: this share of canary requests fail (0-1)");
  app.add_option("--canary-crash-rate", crash_rate,
                 "inject a crash: this share of canary requests abort() their worker (0-1; the master starts another)");
  app.add_option("--canary-extra-latency-ms", extra_latency, "inject a regression: added to every canary request");
  app.add_option("--work-us", work_us, "simulated work of every request, microseconds");
  std::string click_rates;
  app.add_option("--click-rates", click_rates,
                 "RATE,RATE,...: the share of each experiment arm's users who click (control first; docs/experiments.md)");
  app.add_flag("--no-record", no_record, "start with recording off (POST /demo/control turns it on)");
  if (int rc = tools::parse_command_line(app, argc, argv); rc >= 0) return rc;

  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  auto port_n = tools::parse_bounded(port, "--port", 0, 65535);
  auto workers_n = tools::parse_bounded(workers.empty() ? std::to_string(cpus) : workers, "--workers", 1, 1024);
  auto threads_n = tools::parse_bounded(threads, "--threads", 1, 256);
  auto extra_n = tools::parse_bounded(extra_latency, "--canary-extra-latency-ms", 0, demo::kMaxExtraLatencyMs);
  auto work_n = tools::parse_bounded(work_us, "--work-us", 0, demo::kMaxWorkUs);
  for (const auto* n : {&port_n, &workers_n, &threads_n, &extra_n, &work_n})
    if (!*n) return tools::report_error(kTool, n->status());
  auto rate = tools::parse_fraction(error_rate, "--canary-error-rate");
  if (!rate) return tools::report_error(kTool, rate.status());
  auto crash = tools::parse_fraction(crash_rate, "--canary-crash-rate");
  if (!crash) return tools::report_error(kTool, crash.status());
  std::vector<double> clicks;
  for (const std::string& item : tools::split_list(click_rates)) {
    auto fraction = tools::parse_fraction(item, "--click-rates");
    if (!fraction) return tools::report_error(kTool, fraction.status());
    clicks.push_back(*fraction);
  }
  if (clicks.size() > kMaxArms)
    return tools::report_error(kTool, {Errc::invalid_argument, "--click-rates: at most " + std::to_string(kMaxArms) + " arms"});
  o.port = *port_n;
  o.workers = *workers_n;
  o.threads = *threads_n;

  Control* control = make_shared_control();
  if (control == nullptr) return tools::report_error(kTool, {Errc::system, "cannot map the shared control block"});
  control->canary_error_ppm = static_cast<std::uint32_t>(*rate * 1e6);
  control->canary_crash_ppm = static_cast<std::uint32_t>(*crash * 1e6);
  control->canary_extra_latency_ms = static_cast<std::uint32_t>(*extra_n);
  control->work_us = static_cast<std::uint32_t>(*work_n);
  control->recording = no_record ? 0 : 1;
  for (std::size_t a = 0; a < clicks.size(); ++a) control->click_ppm[a] = static_cast<std::uint32_t>(clicks[a] * 1e6);
  return serve(o, *control);
}
