// SPDX-License-Identifier: Apache-2.0
#include "loadgen_synthetic.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "canary/writer.hpp"
#include "tool_common.hpp"

namespace canary::tools {

namespace {

// One request path per template, each {parameter} replaced by a random token, and one path that
// matches nothing (recorded as `other`).
std::vector<std::string> request_paths(const std::vector<std::string>& templates, std::mt19937_64& rng) {
  std::vector<std::string> paths;
  for (const std::string& t : templates) {
    std::string path;
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i] != '{') {
        path += t[i];
        continue;
      }
      char token[17];
      const auto end = std::to_chars(token, token + sizeof token, rng(), 16).ptr;
      path.append(token, end);
      i = t.find('}', i);
    }
    paths.push_back(path);
  }
  paths.push_back("/not/a/registered/endpoint");
  return paths;
}

// The status of a failure: 500, or with the given share an unavailable one (503 mostly, then 502,
// 504 and no response at all).
std::uint32_t error_status(std::mt19937_64& rng, double unavailable_share) {
  static constexpr std::uint32_t unavailable[] = {503, 503, 503, 503, 503, 503, 502, 502, 504, 0};
  if (std::uniform_real_distribution<double>(0, 1)(rng) >= unavailable_share) return 500;
  return unavailable[rng() % std::size(unavailable)];
}

// A uniform draw in [0, 1) fixed by the user: whether they convert is a property of the user, so
// the per-user conversion rate is the arm's rate however many requests they send.
double user_draw(std::uint64_t user_hash) {
  std::uint64_t z = user_hash + 0x9E3779B97F4A7C15ull;  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

}  // namespace

Expected<Lognormal> parse_lognormal(std::string_view text, std::string_view what) {
  const std::size_t colon = text.find(':');
  auto median = parse_number(text.substr(0, colon), what);
  if (!median) return median.status();
  Lognormal l;
  l.median_ms = *median;
  if (colon != std::string_view::npos) {
    auto sigma = parse_number(text.substr(colon + 1), what);
    if (!sigma) return sigma.status();
    l.sigma = *sigma;
  }
  if (l.median_ms <= 0 || l.median_ms > 3'600'000 || l.sigma < 0 || l.sigma > 5)
    return Status{Errc::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, 40)) +
                                              "' must be MEDIAN_MS[:SIGMA] with 0 < median <= 3600000 and 0 <= sigma <= 5"};
  return l;
}

GroundTruth run_synthetic(const SyntheticLoad& load, std::uint32_t worker) {
  std::mt19937_64 rng(load.seed * 1'000'003 + worker);
  const std::vector<std::string> paths = request_paths(load.templates, rng);
  std::vector<std::lognormal_distribution<double>> latency;
  for (const Lognormal& l : load.latency) latency.emplace_back(std::log(l.median_ms * 1000.0), l.sigma);
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  GroundTruth truth;
  char user[32] = "user-";
  const auto start = std::chrono::steady_clock::now();
  const double interval_ns = load.rate > 0 ? 1e9 / load.rate : 0;
  for (std::uint64_t i = 0; i < load.requests; ++i) {
    if (interval_ns > 0) {
      const auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * interval_ns));
      if (std::chrono::steady_clock::now() < due) std::this_thread::sleep_until(due);
    }
    const auto end = std::to_chars(user + 5, user + sizeof user, rng() % load.users).ptr;
    const std::string_view path = paths[rng() % paths.size()];
    const Decision d = route(std::string_view(user, static_cast<std::size_t>(end - user)), path);
    const auto v = static_cast<std::uint32_t>(d.version);
    const double u = unit(rng);
    const Method method = rng() % 10 < 7 ? Method::post : Method::get;
    std::uint32_t status = method == Method::post ? 201 : 200;
    if (u < load.error_rate[v])
      status = error_status(rng, load.unavailable_share);
    else if (u < load.error_rate[v] + load.client_error_rate)
      status = rng() % 2 ? 404 : 400;
    const auto latency_us = static_cast<std::uint64_t>(std::llround(latency[v](rng)));
    record(d.endpoint, method, d.user_hash, d.version, status, latency_us);
    truth.add(d.version, method, status, latency_us);
    if (load.experiment >= 0) {
      const Assignment a = arm(static_cast<ExperimentId>(load.experiment), std::string_view(user, static_cast<std::size_t>(end - user)));
      if (a.in_experiment) {
        expose(a);
        ++truth.exposures;
        if (user_draw(a.user_hash) < load.conversion[a.arm]) {
          record_event(a, 0, 1.0);
          ++truth.conversions;
        }
      }
    }
  }
  const WriterStats stats = writer_stats();
  truth.ring_full_drops = stats.ring_full_drops;
  truth.had_no_ring = stats.ring < 0 ? 1 : 0;
  return truth;
}

}  // namespace canary::tools
