// SPDX-License-Identifier: Apache-2.0
// The fleet's decision rule by seeded simulation: four hosts in two regions, each interval's data
// merged and every scope judged exactly as the leader does (round.hpp, no HTTP), checked every
// interval. Error rates are in docs/statistics.md ("Fleets").
//
// - A healthy canary is (almost) never rolled back by the fleet: the scopes' alpha is split
//   among them, so continuous monitoring of three scopes keeps the policy's rollback alpha.
// - A canary failing 5.5% of its requests in one region is caught, and with fewer canary
//   requests per host than one host judging its own data with the same rule needs.
// - An incident in one region that hits both versions alike, with the canary at a larger share
//   there, does not roll back a canary no worse than legacy in either region: the fleet's
//   comparison is post-stratified by region.
// - A region slower on both versions, where alone the canary runs, does not make the canary look
//   slower: the fleet scope's P95/P99 comparisons take the baseline's latencies from the regions
//   the candidate serves.
// - Bursts of canary errors averaging half the limit do not roll it back: the leader slices its
//   steps in time and the absolute triggers take the bursts' design effect.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <random>
#include <thread>

#include "canary/decision/judge.hpp"
#include "canary/fleet/round.hpp"
#include "simulation_runs.hpp"

namespace canary::fleet {
namespace {

constexpr int kHosts = 4;
constexpr int kRequestsPerHostInterval = 100;  // 100 requests a second per host
constexpr std::uint32_t kShareBp = 2000;      // 20% canary everywhere
constexpr int kIntervals = 600;               // 10 minutes at 1 s

struct SimHost {
  std::string id, region;
  WindowCounts cumulative[2];
};

struct Outcome {
  bool fleet_rolled_back = false;
  std::uint64_t fleet_canary_per_host = 0;  // canary requests per host of the bad region at the decision
  bool host_rolled_back = false;            // host a1 judging only its own data
  std::uint64_t host_canary = 0;
};

// Region A's error rates and each region's share (region B: 0.1% errors on both versions).
struct Traffic {
  double canary_error_rate_a = 0.001;
  double legacy_error_rate_a = 0.001;
  std::uint32_t share_a_bp = kShareBp, share_b_bp = kShareBp;
  // Bursts of canary errors on every host at once (a dependency the canary alone calls, flapping):
  // starting on average every burst_every_s seconds (0: none), burst_s long at burst_error_rate.
  double burst_every_s = 0;
  int burst_s = 0;
  double burst_error_rate = 0;
  bool comparisons = true;  // false: rollback.when_gate_cannot_pass off (the absolute triggers alone)
  double latency_factor_a = 1;  // region A's latency on both versions, against B's
};

Outcome run(std::uint64_t seed, const Traffic& traffic) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> latency(std::log(100000.0), 0.4);
  std::vector<SimHost> sims = {{"a1", "A", {}}, {"a2", "A", {}}, {"b1", "B", {}}, {"b2", "B", {}}};
  std::vector<HostRef> hosts;
  for (const SimHost& s : sims) hosts.push_back({s.id, s.region, "", 0});
  FleetConfig config;
  config.generation = 1;
  config.rollout_unix_ns = 1;
  config.share_bp = kShareBp;
  config.shares["A"] = traffic.share_a_bp;
  config.shares["B"] = traffic.share_b_bp;
  Policy policy;
  policy.rollback.when_gate_cannot_pass = traffic.comparisons;
  MergeState merged;
  // Host a1 alone: its own step, judged with the whole alpha (what its aggregator's step rule does).
  Stretch alone;
  Outcome out;
  int burst_until = 0;
  for (int t = 1; t <= kIntervals && !(out.fleet_rolled_back && out.host_rolled_back); ++t) {
    if (traffic.burst_every_s > 0 && t >= burst_until &&
        std::uniform_real_distribution<double>(0, 1)(rng) < 1 / traffic.burst_every_s)
      burst_until = t + traffic.burst_s;
    const bool in_burst = t < burst_until;
    std::vector<PullResult> pulls(kHosts);
    for (int h = 0; h < kHosts; ++h) {
      SimHost& s = sims[static_cast<std::size_t>(h)];
      HostInterval interval;
      interval.segment_id = 1;
      interval.id = {1, static_cast<std::uint64_t>(t)};
      interval.fleet_generation = config.generation;
      for (int r = 0; r < kRequestsPerHostInterval; ++r) {
        const std::uint32_t v = rng() % 10000 < (s.region == "A" ? traffic.share_a_bp : traffic.share_b_bp) ? 1 : 0;
        const double error_rate = v == 1 && in_burst ? traffic.burst_error_rate
                                  : s.region != "A"  ? 0.001
                                  : v == 1           ? traffic.canary_error_rate_a
                                                     : traffic.legacy_error_rate_a;
        const bool failed = std::uniform_real_distribution<double>(0, 1)(rng) < error_rate;
        const auto us = static_cast<std::uint32_t>(latency(rng) * (s.region == "A" ? traffic.latency_factor_a : 1));
        WindowCounts& c = s.cumulative[v];
        ++c.requests;
        c.errors += failed ? 1 : 0;
        c.latency_sum_us += us;
        interval.latency[v].add(us);
        if (h == 0 && !out.host_rolled_back) {
          ++alone.counts[v].requests;
          alone.counts[v].errors += failed ? 1 : 0;
          alone.latency[v].add(us);
        }
      }
      for (std::uint32_t v = 0; v < 2; ++v) interval.cells.push_back({v, 1, s.cumulative[v]});
      pulls[static_cast<std::size_t>(h)].ok = true;
      pulls[static_cast<std::size_t>(h)].intervals.push_back(std::move(interval));
    }
    if (!out.fleet_rolled_back) {
      Round round = merge_and_judge(merged, config, policy, hosts, pulls, /*elapsed_ms=*/1000);
      for (const auto& [scope, view] : round.scopes)
        if (view.judged && view.judgement.rollback) out.fleet_rolled_back = true;
      if (out.fleet_rolled_back) out.fleet_canary_per_host = merged.steps["A"].counts[1].requests / 2;
    }
    if (!out.host_rolled_back) {
      alone.slice(1000, false);
      const Evidence e = step_evidence(alone, policy);
      JudgeOptions fast;
      fast.compute_every_bound = false;
      fast.evaluate_gate = false;
      if (judge(policy, e, nullptr, fast).rollback) {
        out.host_rolled_back = true;
        out.host_canary = alone.counts[1].requests;
      }
    }
  }
  return out;
}

std::vector<Outcome> run_many(int runs, std::uint64_t seed, const Traffic& traffic) {
  std::vector<Outcome> out(static_cast<std::size_t>(runs));
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < std::max(2u, std::thread::hardware_concurrency()); ++w)
    workers.emplace_back([&] {
      for (int i; (i = next++) < runs;) out[static_cast<std::size_t>(i)] = run(seed * 7919 + static_cast<std::uint64_t>(i), traffic);
    });
  for (auto& t : workers) t.join();
  return out;
}

TEST(FleetSimulation, AHealthyCanaryIsAlmostNeverRolledBackByTheFleet) {
  const std::vector<Outcome> runs = run_many(200, 11, Traffic{});
  int rolled = 0;
  for (const Outcome& o : runs) rolled += o.fleet_rolled_back ? 1 : 0;
  std::cout << "healthy canary, 4 hosts, 10 minutes judged every second: fleet rolled back " << rolled << " of "
            << runs.size() << " runs\n";
  EXPECT_LE(rolled, 2) << "the policy's rollback alpha is 0.005";
}

TEST(FleetSimulation, ARegionalRegressionIsCaughtWithFewerRequestsPerHostThanOneHostNeeds) {
  const std::vector<Outcome> runs = run_many(1000, 12, Traffic{0.055});
  std::vector<std::uint64_t> fleet, host;
  int caught = 0, fleet_first = 0;
  for (const Outcome& o : runs) {
    caught += o.fleet_rolled_back ? 1 : 0;
    if (o.fleet_rolled_back) fleet.push_back(o.fleet_canary_per_host);
    if (o.host_rolled_back) host.push_back(o.host_canary);
    fleet_first += o.fleet_rolled_back && (!o.host_rolled_back || o.fleet_canary_per_host < o.host_canary) ? 1 : 0;
  }
  const std::uint64_t fleet_median = simulation::percentile(fleet, 0.5);
  const std::uint64_t host_median = simulation::percentile(host, 0.5);
  std::cout << "5.5% canary errors in region A: fleet caught " << caught << " of " << runs.size()
            << " runs, median " << fleet_median << " canary requests per host of A (P90 " << simulation::percentile(fleet, 0.9)
            << "); one host alone: caught " << host.size() << ", median " << host_median << " (P90 "
            << simulation::percentile(host, 0.9) << "); the fleet needed fewer per host in " << fleet_first << " runs\n";
  EXPECT_GE(caught, 990);
  EXPECT_LT(fleet_median, host_median);
}

TEST(FleetSimulation, AnIncidentInOneRegionOnBothVersionsDoesNotRollBackTheFleet) {
  // Region A: 3% errors on legacy and canary alike, the canary at 50% there; B at 10%, healthy.
  const std::vector<Outcome> runs = run_many(200, 13, Traffic{0.03, 0.03, 5000, 1000});
  int rolled = 0;
  for (const Outcome& o : runs) rolled += o.fleet_rolled_back ? 1 : 0;
  std::cout << "3% errors on both versions in region A (canary 50% there, 10% in B): fleet rolled back " << rolled
            << " of " << runs.size() << " runs\n";
  EXPECT_LE(rolled, 2);
}

TEST(FleetSimulation, ARegionSlowerOnBothVersionsWhereTheCanaryRunsAloneDoesNotRollBackTheFleet) {
  // The first wave: the canary at 20% in region A only, and A is 50% slower than B on both
  // versions. The fleet scope's P95 comparison takes the baseline's latencies from A alone.
  Traffic first_wave;
  first_wave.share_b_bp = 0;
  first_wave.latency_factor_a = 1.5;
  const std::vector<Outcome> runs = run_many(200, 15, first_wave);
  int rolled = 0;
  for (const Outcome& o : runs) rolled += o.fleet_rolled_back ? 1 : 0;
  std::cout << "canary in region A only, A 50% slower on both versions: fleet rolled back " << rolled << " of " << runs.size()
            << " runs\n";
  EXPECT_LE(rolled, 2);
}

TEST(FleetSimulation, ErrorBurstsAveragingHalfTheLimitDoNotRollBackTheFleet) {
  // 10-s bursts of 50% canary errors on every host, on average every 250 s (2.5% over the run,
  // half the 5% limit); the comparisons against legacy off, so only the absolute triggers act.
  Traffic bursts;
  bursts.burst_every_s = 250;
  bursts.burst_s = 10;
  bursts.burst_error_rate = 0.5;
  bursts.comparisons = false;
  const std::vector<Outcome> runs = run_many(200, 14, bursts);
  int rolled = 0;
  for (const Outcome& o : runs) rolled += o.fleet_rolled_back ? 1 : 0;
  std::cout << "10-s bursts of 50% canary errors, 2.5% on average, every host: fleet rolled back " << rolled << " of "
            << runs.size() << " runs\n";
  EXPECT_LE(rolled, 2);
}

}  // namespace
}  // namespace canary::fleet
