// SPDX-License-Identifier: Apache-2.0
// The per-version totals object of SPEC 7a, shared by canary-loadgen (its ground truth) and
// canary-shm-dump (what the slabs say), so the two compare key for key.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "canary/slab.hpp"

namespace canary::tools {

// {"requests", "errors", "client_errors", "unavailable", "invalid", "latency_sum_ms", "mean_latency_ms"}
nlohmann::json counts_to_json(const Counts& c);

// {VERSION: counts_to_json(...)} with an entry for every version that received traffic, keyed by
// the version's name; names[v] and counts[v] belong together.
nlohmann::json totals_to_json(const std::vector<std::string>& names, const std::vector<Counts>& counts);

}  // namespace canary::tools
