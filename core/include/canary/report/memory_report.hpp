// SPDX-License-Identifier: Apache-2.0
// The aggregator's memory as operators read it: the parts it adds up, its limit, and how coarse the
// long windows' buckets are now (memory_budget.hpp), in /status and in /metrics.
#pragma once

#include <ostream>

#include <nlohmann/json.hpp>

#include "canary/memory_budget.hpp"

namespace canary::report {

// {"limit_bytes", "estimate_bytes", "parts": {...}, "over_limit", "cannot_coarsen_further",
//  "window_bucket_s": {"5m", "1h", "6h", "24h"}}
nlohmann::json memory_json(const MemoryBudget& m);

// canary_aggregator_memory_bytes{part}, canary_aggregator_memory_limit_bytes,
// canary_aggregator_memory_over_limit, canary_window_bucket_seconds{window}.
void memory_metrics(std::ostream& out, const MemoryBudget& m);

}  // namespace canary::report
