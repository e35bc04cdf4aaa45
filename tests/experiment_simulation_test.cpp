// SPDX-License-Identifier: Apache-2.0
// The experiment verdict (experiment/judge.hpp) by seeded simulation, 1,000 runs per case, judged
// after every interval of 1,000 users for 300,000 users: how often an A/A test declares a winner at
// any point of its life, and how often and how soon a 5% relative lift on a 10% conversion rate is
// proven. docs/statistics.md ("Experiments") shows these figures.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "canary/experiment/judge.hpp"
#include "simulation_runs.hpp"

namespace canary::experiment {
namespace {

constexpr int kRuns = 1000;
constexpr std::uint64_t kUsersPerInterval = 1000;
constexpr std::uint64_t kIntervals = 300;

struct Outcome {
  bool treatment_better = false;  // any arm, at any interval
  bool control_better = false;
  std::uint64_t users_at_first_verdict = 0;  // 0: none
};

// One experiment's life: users split by the arms' shares, each converting once with its arm's
// rate (a conversion metric: per-user value 0 or 1).
Outcome run_once(const std::vector<double>& shares, const std::vector<double>& rates, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ArmInput> arms(shares.size());
  for (std::size_t i = 0; i < shares.size(); ++i) arms[i].share = shares[i];
  std::discrete_distribution<std::size_t> arm_of(shares.begin(), shares.end());
  Outcome out;
  for (std::uint64_t interval = 1; interval <= kIntervals; ++interval) {
    std::vector<std::uint64_t> users(shares.size(), 0);
    for (std::uint64_t u = 0; u < kUsersPerInterval; ++u) ++users[arm_of(rng)];
    for (std::size_t i = 0; i < arms.size(); ++i) {
      const auto converted = static_cast<double>(std::binomial_distribution<std::uint64_t>(users[i], rates[i])(rng));
      arms[i].sample.users += users[i];
      arms[i].sample.sum += converted;
      arms[i].sample.sum_squares += converted;  // 0 or 1 per user
    }
    for (const ArmJudgement& j : judge_metric(arms, JudgeSettings{})) {
      if (j.verdict == Verdict::not_yet_proven) continue;
      (j.verdict == Verdict::treatment_better ? out.treatment_better : out.control_better) = true;
      if (out.users_at_first_verdict == 0) out.users_at_first_verdict = interval * kUsersPerInterval;
    }
  }
  return out;
}

std::vector<Outcome> run_all(const std::vector<double>& shares, const std::vector<double>& rates, std::uint64_t seed) {
  std::vector<Outcome> results(kRuns);
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < std::max(2u, std::thread::hardware_concurrency()); ++w)
    workers.emplace_back([&] {
      for (int i; (i = next++) < kRuns;) results[static_cast<std::size_t>(i)] = run_once(shares, rates, seed * 7919 + static_cast<std::uint64_t>(i));
    });
  for (auto& t : workers) t.join();
  return results;
}

double share_of(const std::vector<Outcome>& r, bool (*f)(const Outcome&)) {
  int n = 0;
  for (const Outcome& o : r) n += f(o);
  return static_cast<double>(n) / static_cast<double>(r.size());
}

TEST(ExperimentSimulation, AnAATestDeclaresAWinnerInAtMostFivePercentOfRunsWhilePeekedEveryInterval) {
  const auto r = run_all({50, 50}, {0.10, 0.10}, 1);
  const double any = share_of(r, [](const Outcome& o) { return o.treatment_better || o.control_better; });
  std::printf("A/A, 2 arms, 300 looks: a winner declared in %.1f%% of %d runs\n", 100 * any, kRuns);
  EXPECT_LE(any, 0.05);
}

TEST(ExperimentSimulation, AnAAATestWithTwoTreatmentsStaysUnderFivePercent) {
  const auto r = run_all({34, 33, 33}, {0.10, 0.10, 0.10}, 2);
  const double any = share_of(r, [](const Outcome& o) { return o.treatment_better || o.control_better; });
  std::printf("A/A/A, 3 arms, 300 looks: a winner declared in %.1f%% of %d runs\n", 100 * any, kRuns);
  EXPECT_LE(any, 0.05);
}

TEST(ExperimentSimulation, AFivePercentLiftOnTenPercentConversionIsProvenInEightyPercentWithin300kUsers) {
  const auto r = run_all({50, 50}, {0.10, 0.105}, 3);
  const double proven = share_of(r, [](const Outcome& o) { return o.treatment_better; });
  const double wrong = share_of(r, [](const Outcome& o) { return o.control_better; });
  std::vector<std::uint64_t> users;
  for (const Outcome& o : r)
    if (o.treatment_better) users.push_back(o.users_at_first_verdict);
  // What a fixed-horizon test needs for the same power (docs/statistics.md): n = (z_0.975 +
  // z_power)^2 Var(phi) / delta^2, with Var(phi) = p_t / pi_t + p_c / pi_c - delta^2 per user.
  const double delta = 0.005, var_phi = 0.105 / 0.5 + 0.10 / 0.5 - delta * delta;
  std::printf("5%% lift on 10%%: proven in %.1f%% of %d runs within 300,000 users (wrong way: %.1f%%); users at the "
              "verdict: median %llu, P90 %llu; Var(phi) %.3f\n",
              100 * proven, kRuns, 100 * wrong, static_cast<unsigned long long>(simulation::median(users)),
              static_cast<unsigned long long>(simulation::percentile(users, 0.9)), var_phi);
  EXPECT_GE(proven, 0.80);
  EXPECT_LE(wrong, 0.01);
}

}  // namespace
}  // namespace canary::experiment
