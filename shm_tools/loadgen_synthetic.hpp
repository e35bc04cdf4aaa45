// SPDX-License-Identifier: Apache-2.0
// Synthetic requests: users drawn uniformly, paths spread over the registered templates (and a
// few unknown ones), per-version error rates and lognormal latencies, all from one seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canary/layout.hpp"
#include "canary/status.hpp"
#include "loadgen_truth.hpp"

namespace canary::tools {

struct Lognormal {
  double median_ms = 250;
  double sigma = 0.5;
};

struct SyntheticLoad {
  std::uint64_t requests = 10000;  // per worker
  std::uint64_t users = 10000;
  std::uint64_t seed = 1;
  double error_rate[kMaxVersions] = {0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001};
  double client_error_rate = 0.01;
  double unavailable_share = 0.5;  // of the failures: 502, 503, 504 or no response; the rest 500
  Lognormal latency[kMaxVersions] = {{250, 0.5}, {230, 0.5}, {230, 0.5}, {230, 0.5}, {230, 0.5}, {230, 0.5}, {230, 0.5}, {230, 0.5}};
  double rate = 0;  // requests per second per worker; 0: as fast as possible
  std::vector<std::string> templates;  // the registered templates requests are spread over
  // --experiment: every request of a user in the experiment is exposed; a user converts (the
  // experiment's first metric, value 1) with their arm's rate, decided once per user.
  int experiment = -1;  // the slot; -1: none
  double conversion[kMaxArms] = {};
};

// "250" or "250:0.4"; median in (0, 3600000] ms, sigma in [0, 5].
Expected<Lognormal> parse_lognormal(std::string_view text, std::string_view what);

// Runs in an attached worker process; `worker` makes its random stream distinct.
GroundTruth run_synthetic(const SyntheticLoad& load, std::uint32_t worker);

}  // namespace canary::tools
