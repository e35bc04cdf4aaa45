// SPDX-License-Identifier: Apache-2.0
// Running a simulated scenario 1,000 times on every core, and reading the results.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "decision_simulation.hpp"

namespace canary::simulation {

inline constexpr int kRuns = 1000;

inline std::vector<RunResult> run_all(const Scenario& s, Rules rules, std::uint64_t seed, const Policy& policy = Policy{},
                                      int runs = kRuns) {
  const Simulator sim(policy, rules);
  std::vector<RunResult> results(static_cast<std::size_t>(runs));
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < std::max(2u, std::thread::hardware_concurrency()); ++w)
    workers.emplace_back([&] {
      for (int i; (i = next++) < runs;) results[static_cast<std::size_t>(i)] = sim.run(s, seed * 100003 + static_cast<std::uint64_t>(i));
    });
  for (auto& t : workers) t.join();
  return results;
}

inline double share(const std::vector<RunResult>& r, const std::function<bool(const RunResult&)>& f) {
  return static_cast<double>(std::count_if(r.begin(), r.end(), f)) / static_cast<double>(r.size());
}

// The value at a fraction (0.5: the median) of the sorted values.
inline std::uint64_t percentile(std::vector<std::uint64_t> v, double fraction) {
  if (v.empty()) return 0;
  const auto at = static_cast<std::size_t>(fraction * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at), v.end());
  return v[at];
}

inline std::uint64_t median(std::vector<std::uint64_t> v) { return percentile(std::move(v), 0.5); }

}  // namespace canary::simulation
