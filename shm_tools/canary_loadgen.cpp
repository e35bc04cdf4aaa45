// canary-loadgen: forks worker processes that route and record requests through the writer
// header, synthetic or replayed from a CSV file, and prints what they recorded (SPEC 7a) so that
// it can be compared with what the segment says.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <vector>

#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/writer.hpp"
#include "counts_json.hpp"
#include "loadgen_replay.hpp"
#include "loadgen_synthetic.hpp"
#include "tool_common.hpp"

namespace canary::tools {
namespace {

constexpr std::string_view kTool = "canary-loadgen";

struct Args {
  std::string workers = "1", requests = "10000", users = "10000", seed = "1", rate = "0";
  std::string legacy_error_rate = "0.001", canary_error_rate = "0.001", client_error_rate = "0.01";
  std::string unavailable_share = "0.5";
  std::string legacy_latency = "250:0.5", canary_latency = "230:0.5";
  std::string replay;
};

// Writes all of `data` to a pipe; a worker's one report.
bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

std::vector<std::string> registered_templates(const Segment& segment) {
  auto c = std::make_unique<ConfigData>();
  std::vector<std::string> out;
  if (!read_config(segment.config(), *c, segment.geometry().params.endpoint_capacity).ok) return out;
  for (std::uint32_t id = 1; id < c->endpoint_count; ++id) out.emplace_back(text_of(c->endpoints[id].path));
  return out;
}

int run(const std::string& segment_name, const Args& a) {
  auto workers = parse_bounded(a.workers, "--workers", 1, 1024);
  if (!workers) return report_error(kTool, workers.status());
  SyntheticLoad load;
  std::vector<ReplayRow> rows;
  if (!a.replay.empty()) {
    auto read = read_replay_file(a.replay);
    if (!read) return report_error(kTool, read.status());
    rows = std::move(*read);
  } else {
    auto requests = parse_bounded(a.requests, "--requests", 0, UINT64_MAX / 2);
    auto users = parse_bounded(a.users, "--users", 1, UINT32_MAX);
    auto seed = parse_u64(a.seed, "--seed");
    auto rate = parse_bounded(a.rate, "--rate", 0, 100'000'000);
    auto legacy_errors = parse_fraction(a.legacy_error_rate, "--legacy-error-rate");
    auto canary_errors = parse_fraction(a.canary_error_rate, "--canary-error-rate");
    auto client_errors = parse_fraction(a.client_error_rate, "--client-error-rate");
    auto unavailable = parse_fraction(a.unavailable_share, "--unavailable-share");
    auto legacy_latency = parse_lognormal(a.legacy_latency, "--legacy-latency-ms");
    auto canary_latency = parse_lognormal(a.canary_latency, "--canary-latency-ms");
    if (!requests) return report_error(kTool, requests.status());
    if (!users) return report_error(kTool, users.status());
    if (!seed) return report_error(kTool, seed.status());
    if (!rate) return report_error(kTool, rate.status());
    if (!legacy_errors) return report_error(kTool, legacy_errors.status());
    if (!canary_errors) return report_error(kTool, canary_errors.status());
    if (!client_errors) return report_error(kTool, client_errors.status());
    if (!unavailable) return report_error(kTool, unavailable.status());
    if (!legacy_latency) return report_error(kTool, legacy_latency.status());
    if (!canary_latency) return report_error(kTool, canary_latency.status());
    if (*legacy_errors + *client_errors > 1 || *canary_errors + *client_errors > 1)
      return report_error(kTool, {Errc::invalid_argument, "an error rate plus --client-error-rate is more than 1"});
    load.requests = *requests;
    load.users = *users;
    load.seed = *seed;
    load.rate = static_cast<double>(*rate);
    load.error_rate[0] = *legacy_errors;
    load.error_rate[1] = *canary_errors;
    load.client_error_rate = *client_errors;
    load.unavailable_share = *unavailable;
    load.latency[0] = *legacy_latency;
    load.latency[1] = *canary_latency;
  }

  // The parent attaches first: a missing or foreign segment is an error here, not a silent
  // fail-open in every worker. The workers inherit the attachment across fork().
  {
    auto segment = Segment::attach(segment_name, Access::read_write);
    if (!segment) return report_error(kTool, segment.status());
    load.templates = registered_templates(*segment);
  }
  if (!attach(segment_name)) return report_error(kTool, {Errc::system, "cannot attach the writer"});

  const auto start = std::chrono::steady_clock::now();
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  const std::size_t n = static_cast<std::size_t>(*workers);
  for (std::size_t w = 0; w < n; ++w) {
    int fds[2];
    if (pipe(fds) != 0) return report_error(kTool, {Errc::system, "cannot create a pipe"});
    const pid_t pid = fork();
    if (pid < 0) return report_error(kTool, {Errc::system, "cannot fork worker " + std::to_string(w)});
    if (pid == 0) {
      close(fds[0]);
      const GroundTruth truth = rows.empty() ? run_synthetic(load, static_cast<std::uint32_t>(w))
                                             : run_replay(rows, rows.size() * w / n, rows.size() * (w + 1) / n);
      _exit(write_all(fds[1], &truth, sizeof truth) ? 0 : 1);
    }
    close(fds[1]);
    children.push_back({pid, fds[0]});
  }

  GroundTruth total;
  int failed = 0;
  for (std::size_t w = 0; w < children.size(); ++w) {
    GroundTruth truth;
    const bool reported = read_all(children[w].fd, &truth, sizeof truth);
    close(children[w].fd);
    int status = 0;
    waitpid(children[w].pid, &status, 0);
    if (!reported || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cerr << kTool << ": worker " << w << " (pid " << children[w].pid << ") did not finish\n";
      ++failed;
      continue;
    }
    total += truth;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uint64_t recorded = total.by_version[0].total() + total.by_version[1].total();
  nlohmann::json out = {
      {"totals", totals_to_json(total.by_version[0], total.by_version[1])},
      {"mode", rows.empty() ? "synthetic" : "replay"},
      {"workers", children.size()},
      {"requests", recorded},
      {"elapsed_s", elapsed},
      {"requests_per_s", elapsed > 0 ? static_cast<double>(recorded) / elapsed : 0.0},
      {"ring_full_drops", total.ring_full_drops},
      {"workers_without_ring", total.had_no_ring},
  };
  std::cout << out.dump(2) << '\n';
  return failed == 0 ? kExitOk : kExitError;
}

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary::tools;
  CLI::App app{"Drive synthetic or replayed requests through the writer header from worker processes.",
               "canary-loadgen"};
  std::string segment;
  add_segment_option(app, segment);
  Args a;
  app.add_option("--workers", a.workers, "worker processes (default 1)");
  app.add_option("--requests", a.requests, "requests per worker (default 10000)");
  app.add_option("--users", a.users, "distinct user ids, user-0 .. user-N-1 (default 10000)");
  app.add_option("--seed", a.seed, "random seed (default 1)");
  app.add_option("--rate", a.rate, "requests per second per worker (default 0: as fast as possible)");
  app.add_option("--legacy-error-rate", a.legacy_error_rate, "fraction of legacy requests that fail (default 0.001)");
  app.add_option("--canary-error-rate", a.canary_error_rate, "fraction of canary requests that fail (default 0.001)");
  app.add_option("--client-error-rate", a.client_error_rate, "fraction of requests answered 4xx (default 0.01)");
  app.add_option("--unavailable-share", a.unavailable_share,
                 "fraction of the failures answered 502/503/504 or not at all, the rest 500 (default 0.5)");
  app.add_option("--legacy-latency-ms", a.legacy_latency, "lognormal MEDIAN[:SIGMA] of legacy latency (default 250:0.5)");
  app.add_option("--canary-latency-ms", a.canary_latency, "lognormal MEDIAN[:SIGMA] of canary latency (default 230:0.5)");
  app.add_option("--replay", a.replay, "record the rows of this CSV file instead (endpoint,method,user_id,version,status_code,response_time_ms)");
  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;
  return run(segment, a);
}
