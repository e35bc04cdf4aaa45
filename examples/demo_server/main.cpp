// canary-demo-server: the pre-forked worker pool canary-shm is built for. The master attaches,
// binds the port and forks the workers; each worker accepts on the shared socket with a few
// threads, routes and records every request through <canary/writer.hpp>. A worker that dies is
// replaced; SIGTERM or SIGINT stops the master and every worker.
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "control.hpp"
#include "service.hpp"
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

[[noreturn]] void run_worker(httplib::Server& server, std::size_t threads) {
  // Default signal dispositions: the master's SIGTERM ends a worker at once. Stopping the server
  // cleanly would shut down the listening socket every worker shares.
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.listen_after_bind();
  _exit(1);
}

pid_t fork_worker(httplib::Server& server, std::size_t threads) {
  const pid_t pid = fork();
  if (pid == 0) run_worker(server, threads);
  return pid;
}

int serve(const Options& o, Control& control) {
  // Fails open: without the segment every request is served legacy and nothing is recorded.
  if (!attach(o.segment)) std::fprintf(stderr, "%s: serving everyone legacy, recording nothing\n", kTool.data());

  httplib::Server server;
  add_routes(server, control, o.segment.empty() ? default_segment_name() : o.segment);
  server.set_payload_max_length(kMaxBodyBytes);
  // A worker thread serves one connection at a time: let a client keep it for many requests.
  server.set_keep_alive_max_count(1000);
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t fd) {
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Accepted sockets inherit it. Headers and body go out in two writes: without it, Nagle
    // holds the body back until the client's delayed ACK, 40 ms a request.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    listen_fd = fd;
  });
  const int port = o.port == 0 ? server.bind_to_any_port(o.host) : server.bind_to_port(o.host, static_cast<int>(o.port))
                                                                    ? static_cast<int>(o.port)
                                                                    : -1;
  if (port <= 0) {
    std::fprintf(stderr, "%s: cannot listen on %s:%llu\n", kTool.data(), o.host.c_str(),
                 static_cast<unsigned long long>(o.port));
    return 1;
  }
  // The library listens with a backlog of 5; a load generator's burst of connections needs more.
  if (listen_fd >= 0) listen(listen_fd, SOMAXCONN);

  struct sigaction stop {};
  stop.sa_handler = request_stop;  // no SA_RESTART: waitpid returns to check g_stop
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);

  std::vector<pid_t> workers;
  for (std::uint64_t i = 0; i < o.workers; ++i) workers.push_back(fork_worker(server, o.threads));
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
      p = fork_worker(server, o.threads);
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
  Options o;
  tools::add_segment_option(app, o.segment);
  std::string port = "8080", workers, threads = "4", error_rate = "0", extra_latency = "0", work_us = "0";
  bool no_record = false;
  app.add_option("--host", o.host, "address to listen on (default 127.0.0.1)");
  app.add_option("--port", port, "port to listen on (default 8080; 0: any free port)");
  app.add_option("--workers", workers, "worker processes (default: the number of CPUs)");
  app.add_option("--threads", threads, "threads per worker (default 4)");
  app.add_option("--canary-error-rate", error_rate, "inject a regression: this share of canary requests fail (0-1)");
  app.add_option("--canary-extra-latency-ms", extra_latency, "inject a regression: added to every canary request");
  app.add_option("--work-us", work_us, "simulated work of every request, microseconds");
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
  o.port = *port_n;
  o.workers = *workers_n;
  o.threads = *threads_n;

  Control* control = make_shared_control();
  if (control == nullptr) return tools::report_error(kTool, {Errc::system, "cannot map the shared control block"});
  control->canary_error_ppm = static_cast<std::uint32_t>(*rate * 1e6);
  control->canary_extra_latency_ms = static_cast<std::uint32_t>(*extra_n);
  control->work_us = static_cast<std::uint32_t>(*work_n);
  control->recording = no_record ? 0 : 1;
  return serve(o, *control);
}
