// SPDX-License-Identifier: Apache-2.0
// canary-loadgen: forks worker processes that route and record requests through the writer
// header, synthetic or replayed from a CSV file, and prints what they recorded (SPEC 7a) so that
// it can be compared with what the segment says.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <vector>

#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"
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
  std::string versions, error_rates, latencies;  // the many-version flags: NAME=VALUE,...
  std::string replay;
  std::string experiment, conversion;  // --experiment NAME --conversion ARM=RATE,...
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

// What the workers need from the config: the templates requests go to, the versions' names.
struct SegmentFacts {
  std::vector<std::string> templates;
  std::vector<std::string> versions;  // by index
  std::vector<ExperimentEntry> experiments;
};

Expected<SegmentFacts> segment_facts(const Segment& segment) {
  auto c = std::make_unique<ConfigData>();
  if (!read_config(segment.config(), *c, segment.geometry().params.endpoint_capacity).ok)
    return Status{Errc::corrupt, "segment '" + segment.name() + "' is corrupt: its config has no valid copy"};
  SegmentFacts facts;
  for (std::uint32_t id = 1; id < c->endpoint_count; ++id) facts.templates.emplace_back(text_of(c->endpoints[id].path));
  for (std::uint32_t v = 0; v < c->version_count && v < kMaxVersions; ++v) facts.versions.emplace_back(version_name(*c, v));
  facts.experiments.assign(std::begin(c->experiments), std::end(c->experiments));
  return facts;
}

// --experiment NAME --conversion ARM=RATE,...: a running experiment with a metric, rates by arm.
Status experiment_load(const Args& a, const SegmentFacts& facts, SyntheticLoad& load) {
  if (a.experiment.empty()) {
    if (!a.conversion.empty()) return {Errc::invalid_argument, "--conversion needs --experiment"};
    return Status::Ok();
  }
  for (std::size_t x = 0; x < facts.experiments.size(); ++x) {
    const ExperimentEntry& e = facts.experiments[x];
    if (e.state == static_cast<std::uint8_t>(ExperimentState::free) || text_of(e.name) != a.experiment) continue;
    if (e.state != static_cast<std::uint8_t>(ExperimentState::running))
      return {Errc::refused, "experiment '" + a.experiment + "' is not running (canary-ctl experiment start " + a.experiment + ")"};
    if (e.metric_count == 0 && !a.conversion.empty())
      return {Errc::invalid_argument, "experiment '" + a.experiment + "' declares no metric for --conversion to record"};
    std::vector<std::string> arms;
    for (std::uint32_t i = 0; i < e.arm_count; ++i) arms.emplace_back(text_of(e.arms[i].name));
    load.experiment = static_cast<int>(x);
    for (const std::string& item : split_list(a.conversion)) {
      const std::size_t eq = item.find('=');
      const auto it = std::find(arms.begin(), arms.end(), item.substr(0, eq));
      if (eq == std::string::npos || it == arms.end())
        return {Errc::invalid_argument, "--conversion: '" + item.substr(0, 40) + "' must be ARM=RATE with ARM one of the experiment's arms"};
      auto rate = parse_fraction(item.substr(eq + 1), "--conversion");
      if (!rate) return rate.status();
      load.conversion[it - arms.begin()] = *rate;
    }
    return Status::Ok();
  }
  return {Errc::invalid_argument, "--experiment: no experiment named '" + a.experiment.substr(0, 40) + "'"};
}

// --versions a,b,c: each must be one of the segment's versions (routing decides who gets which).
Status check_versions(const std::string& list, const std::vector<std::string>& known) {
  for (const std::string& name : split_list(list))
    if (std::find(known.begin(), known.end(), name) == known.end())
      return {Errc::invalid_argument, "--versions: '" + name.substr(0, 40) + "' is not one of the segment's versions"};
  return Status::Ok();
}

// NAME=VALUE,... for the versions named; `apply` takes the index and the value text.
Status per_version(const std::string& list, std::string_view flag, const std::vector<std::string>& known,
                   const std::function<Status(std::size_t, std::string_view)>& apply) {
  for (const std::string& item : split_list(list)) {
    const std::size_t eq = item.find('=');
    const auto it = std::find(known.begin(), known.end(), item.substr(0, eq));
    if (eq == std::string::npos || it == known.end())
      return {Errc::invalid_argument, std::string(flag) + ": '" + item.substr(0, 40) + "' must be NAME=VALUE with NAME one of the segment's versions"};
    if (Status s = apply(static_cast<std::size_t>(it - known.begin()), std::string_view(item).substr(eq + 1)); !s.ok()) return s;
  }
  return Status::Ok();
}

int run(const std::string& segment_name, const Args& a) {
  auto workers = parse_bounded(a.workers, "--workers", 1, 1024);
  if (!workers) return report_error(kTool, workers.status());
  SyntheticLoad load;
  // The parent attaches first: a missing or foreign segment is an error here, not a silent
  // fail-open in every worker. The workers inherit the attachment across fork().
  SegmentFacts facts;
  {
    auto segment = Segment::attach(segment_name, Access::read_write);
    if (!segment) return report_error(kTool, segment.status());
    auto read = segment_facts(*segment);
    if (!read) return report_error(kTool, read.status());
    facts = std::move(*read);
  }
  load.templates = facts.templates;
  std::vector<ReplayRow> rows;
  if (!a.replay.empty() && !a.experiment.empty())
    return report_error(kTool, {Errc::invalid_argument, "--experiment drives synthetic load, not --replay"});
  if (!a.replay.empty()) {
    auto read = read_replay_file(a.replay, facts.versions);
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
    if (Status s = check_versions(a.versions, facts.versions); !s.ok()) return report_error(kTool, s);
    Status s = per_version(a.error_rates, "--error-rates", facts.versions, [&](std::size_t v, std::string_view text) -> Status {
      auto fraction = parse_fraction(std::string(text), "--error-rates");
      if (!fraction) return fraction.status();
      if (*fraction + *client_errors > 1) return {Errc::invalid_argument, "an error rate plus --client-error-rate is more than 1"};
      load.error_rate[v] = *fraction;
      return Status::Ok();
    });
    if (s.ok())
      s = per_version(a.latencies, "--latencies-ms", facts.versions, [&](std::size_t v, std::string_view text) -> Status {
        auto l = parse_lognormal(text, "--latencies-ms");
        if (!l) return l.status();
        load.latency[v] = *l;
        return Status::Ok();
      });
    if (s.ok()) s = experiment_load(a, facts, load);
    if (!s.ok()) return report_error(kTool, s);
  }
  if (!attach(segment_name)) return report_error(kTool, {Errc::system, "cannot attach the writer"});

  const auto start = std::chrono::steady_clock::now();
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  const std::size_t n = static_cast<std::size_t>(*workers);
  const pid_t parent = getpid();
  for (std::size_t w = 0; w < n; ++w) {
    int fds[2];
    if (pipe(fds) != 0) return report_error(kTool, {Errc::system, "cannot create a pipe"});
    const pid_t pid = fork();
    if (pid < 0) return report_error(kTool, {Errc::system, "cannot fork worker " + std::to_string(w)});
    if (pid == 0) {
      // A worker outlives no loadgen: killed with it, it would go on writing into a segment
      // (and into its successor of the same name, which the writer re-attaches to).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
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
  std::uint64_t recorded = 0;
  for (const Counts& c : total.by_version) recorded += c.total();
  nlohmann::json out = {
      {"totals", totals_to_json(facts.versions, std::vector<Counts>(std::begin(total.by_version), std::end(total.by_version)))},
      {"mode", rows.empty() ? "synthetic" : "replay"},
      {"workers", children.size()},
      {"requests", recorded},
      {"elapsed_s", elapsed},
      {"requests_per_s", elapsed > 0 ? static_cast<double>(recorded) / elapsed : 0.0},
      {"ring_full_drops", total.ring_full_drops},
      {"workers_without_ring", total.had_no_ring},
  };
  if (!a.experiment.empty()) out["experiment"] = {{"name", a.experiment}, {"exposures", total.exposures}, {"conversions", total.conversions}};
  std::cout << out.dump(2) << '\n';
  return failed == 0 ? kExitOk : kExitError;
}

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary::tools;
  CLI::App app{"Drive synthetic or replayed requests through the writer header from worker processes.",
               "canary-loadgen"};
  add_version_flag(app, "canary-loadgen");
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
  app.add_option("--versions", a.versions, "the versions the load is meant for, e.g. legacy,canary,canary2 (each must exist; routing decides)");
  app.add_option("--error-rates", a.error_rates, "NAME=FRACTION,... per version (beside --legacy/--canary-error-rate)");
  app.add_option("--latencies-ms", a.latencies, "NAME=MEDIAN[:SIGMA],... per version (beside --legacy/--canary-latency-ms)");
  app.add_option("--experiment", a.experiment, "also drive this running experiment: expose every request of its users");
  app.add_option("--conversion", a.conversion, "ARM=RATE,...: the share of each arm's users who convert (its first metric)");
  app.add_option("--replay", a.replay, "record the rows of this CSV file instead (endpoint,method,user_id,version,status_code,response_time_ms)");
  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;
  return run(segment, a);
}
