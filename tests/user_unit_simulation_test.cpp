// SPDX-License-Identifier: Apache-2.0
// The user as the unit of evidence (docs/statistics.md, "The user as the unit"). Requests come from
// users in sessions: each 10-minute generation of users sends about 20 requests per user, and a
// share of the users are broken accounts on both versions (every request they send fails). The
// judge gets the comparisons and design effects from the users' buckets, as the aggregator builds
// them (user_buckets.hpp), every second, with the change detectors; one endpoint, 200 requests a
// second, 5% of the users on the canary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "canary/decision/change_watch.hpp"
#include "canary/decision/judge.hpp"
#include "canary/decision/user_buckets.hpp"
#include "simulation_runs.hpp"

namespace canary {
namespace {

struct UserTraffic {
  double total_rate = 200;
  double canary_share = 0.05;
  std::uint64_t seconds = 2 * 3600;
  std::uint64_t session_s = 600;       // a generation of users is active this long
  double requests_per_user = 20;       // in their session
  double broken_share = 0.02;          // broken accounts: every request fails (both versions)
  double legacy_error_rate = 0.005;    // of everyone else's requests
  double canary_error_rate = 0.005;
  double unavailable_share = 0.4;      // of those errors, 503s
  bool users_as_unit = true;           // false: the design effects forced to 1 (requests as independent)
};

struct Outcome {
  bool rolled_back = false;
  std::string trigger;
  std::uint64_t canary_requests = 0;  // at the rollback, or in all
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64: distinct non-zero user hashes
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return (x ^ (x >> 31)) | 1;
}

Outcome run(const UserTraffic& t, std::uint64_t seed) {
  const Policy policy;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  const double rates[2] = {t.total_rate * (1 - t.canary_share), t.total_rate * t.canary_share};
  std::poisson_distribution<std::uint64_t> arrivals[2] = {std::poisson_distribution<std::uint64_t>(rates[0]),
                                                          std::poisson_distribution<std::uint64_t>(rates[1])};
  std::uint64_t users_per_generation[2];
  for (int v = 0; v < 2; ++v)
    users_per_generation[v] = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rates[v] * static_cast<double>(t.session_s) / t.requests_per_user));
  const std::vector<std::string> names = {"", "/api"};
  const std::uint64_t block_s = policy.rollback.window_ms / 2000;

  struct Stretch {
    UserBuckets users;
    std::uint64_t requests[2] = {}, errors[2] = {}, unavailable[2] = {};
  };
  Stretch step;
  std::vector<Stretch> blocks(1);
  std::uint64_t oldest_block = 1;
  ChangeWatch watch(policy);
  Outcome out;
  for (std::uint64_t s = 1; s <= t.seconds; ++s) {
    const std::uint64_t generation = s / t.session_s;
    IntervalCounts interval[2];
    for (std::uint32_t v = 0; v < 2; ++v) {
      const std::uint64_t n = arrivals[v](rng);
      std::uniform_int_distribution<std::uint64_t> pick(0, users_per_generation[v] - 1);
      const double error_rate = v == 1 ? t.canary_error_rate : t.legacy_error_rate;
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t user = mix(seed ^ mix((generation << 32) ^ (pick(rng) << 1) ^ v));
        const bool broken = static_cast<double>(mix(user) % 100000) < t.broken_share * 100000;
        const bool error = broken || uniform(rng) < error_rate;
        const bool unavailable = error && !broken && uniform(rng) < t.unavailable_share;
        for (Stretch* st : {&step, &blocks.front(), &blocks.back()}) {
          if (st == &blocks.back() && blocks.size() == 1) continue;  // one block: counted once
          st->users.add(v, 1, user, error, unavailable);
          ++st->requests[v];
          st->errors[v] += error ? 1 : 0;
          st->unavailable[v] += unavailable ? 1 : 0;
        }
        ++interval[v].requests;
        interval[v].errors += error ? 1 : 0;
        interval[v].unavailable += unavailable ? 1 : 0;
      }
    }
    watch.update(interval, 1.0);
    if (s % block_s == 0) {
      blocks.emplace_back();
      if (blocks.size() > 2) {
        blocks.erase(blocks.begin());
        ++oldest_block;
      }
    }
    auto evidence = [&](const Stretch& st, std::uint64_t sequence, const char* window) {
      Evidence e;
      e.sequence = sequence;
      e.window = window;
      for (std::uint32_t v = 0; v < 2; ++v) {
        VersionEvidence& ve = v == 1 ? e.canary : e.legacy;
        ve.requests = st.requests[v];
        ve.errors = st.errors[v];
        ve.unavailable = st.unavailable[v];
      }
      add_user_evidence(st.users, names, e);
      if (!t.users_as_unit) {
        for (VersionEvidence* ve : {&e.canary, &e.legacy}) ve->design_effect = ve->unavailable_design_effect = 1;
        for (Stratum& x : e.strata) x.legacy_design_effect = 1;
      }
      return e;
    };
    const Evidence step_evidence = evidence(step, 1, "step");
    const Evidence recent = evidence(blocks.front(), oldest_block, "rolling");
    JudgeInput input;
    input.step = &step_evidence;
    input.recent = &recent;
    input.changes = &watch;
    JudgeOptions options;
    options.evaluate_gate = false;
    options.compute_every_bound = false;
    const Judgement j = judge(policy, input, options);
    out.canary_requests = step.requests[1];
    if (const Check* c = j.first_trigger()) {
      out.rolled_back = true;
      out.trigger = c->name + "@" + c->window;
      return out;
    }
  }
  return out;
}

std::vector<Outcome> run_all(const UserTraffic& t, std::uint64_t seed, int runs) {
  std::vector<Outcome> results(static_cast<std::size_t>(runs));
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < std::max(2u, std::thread::hardware_concurrency()); ++w)
    workers.emplace_back([&] {
      for (int i; (i = next++) < runs;) results[static_cast<std::size_t>(i)] = run(t, seed * 100003 + static_cast<std::uint64_t>(i));
    });
  for (auto& w : workers) w.join();
  return results;
}

double rolled_back(const std::vector<Outcome>& runs) {
  return static_cast<double>(std::count_if(runs.begin(), runs.end(), [](const Outcome& o) { return o.rolled_back; })) /
         static_cast<double>(runs.size());
}

std::uint64_t median_canary_requests(const std::vector<Outcome>& runs) {
  std::vector<std::uint64_t> n;
  for (const Outcome& o : runs)
    if (o.rolled_back) n.push_back(o.canary_requests);
  return simulation::median(n);
}

std::string triggers(const std::vector<Outcome>& runs) {
  std::string out;
  for (const Outcome& o : runs)
    if (o.rolled_back && out.find(o.trigger) == std::string::npos) out += (out.empty() ? "" : ", ") + o.trigger;
  return out.empty() ? "none" : out;
}

TEST(UserUnit, BrokenAccountsOnBothVersionsAlmostNeverRollBackAHealthyCanary) {
  UserTraffic t;  // 2% broken accounts, ~20 requests each, 2 hours
  const auto runs = run_all(t, 41, 400);
  t.users_as_unit = false;
  const auto as_requests = run_all(t, 41, 100);
  std::printf("%-58s rolled back: users as the unit %.1f%% of %zu; requests as the unit %.1f%% of %zu (%s)\n",
              "2% broken accounts on both, 20 req/user, 2 h", 100 * rolled_back(runs), runs.size(), 100 * rolled_back(as_requests),
              as_requests.size(), triggers(as_requests).c_str());
  EXPECT_LE(rolled_back(runs), 0.01) << triggers(runs);
  EXPECT_GE(rolled_back(as_requests), 0.03);  // the requests as independent: far above the 1% target
}

TEST(UserUnit, AFivePointRegressionOfEveryUserIsCaughtBesideBrokenAccounts) {
  UserTraffic t;
  t.canary_error_rate = 0.055;
  t.seconds = 3600;
  const auto runs = run_all(t, 42, 200);
  std::printf("%-58s rolled back within 1 h: %.1f%%, median %llu canary requests (%s)\n", "5-point regression, 2% broken accounts",
              100 * rolled_back(runs), static_cast<unsigned long long>(median_canary_requests(runs)), triggers(runs).c_str());
  EXPECT_GE(rolled_back(runs), 0.95);
}

TEST(UserUnit, ThePriceOfTheUserAsTheUnitOnIndependentRequests) {
  // One request per user and no broken accounts: the design effect is 1 in truth, and its estimate
  // (at least 1) only widens the intervals. 10% errors from the first second.
  UserTraffic t;
  t.broken_share = 0;
  t.requests_per_user = 1;
  t.canary_error_rate = 0.10;
  t.seconds = 1800;
  const auto users = run_all(t, 43, 200);
  t.users_as_unit = false;
  const auto requests = run_all(t, 43, 200);
  const double ratio = static_cast<double>(median_canary_requests(users)) / static_cast<double>(median_canary_requests(requests));
  std::printf("%-58s median canary requests to roll back: users as the unit %llu, requests %llu (x%.2f)\n",
              "10% errors, independent requests", static_cast<unsigned long long>(median_canary_requests(users)),
              static_cast<unsigned long long>(median_canary_requests(requests)), ratio);
  EXPECT_GE(rolled_back(users), 0.99);
  EXPECT_LE(ratio, 1.3);
}

}  // namespace
}  // namespace canary
