// SPDX-License-Identifier: Apache-2.0
#include "counts_json.hpp"

namespace canary::tools {

nlohmann::json counts_to_json(const Counts& c) {
  const std::uint64_t requests = c.total();
  return {
      {"requests", requests},
      {"errors", c.errors()},
      {"client_errors", c.client_errors()},
      {"unavailable", c.unavailable()},
      {"invalid", c.of_class(StatusClass::invalid)},
      {"latency_sum_ms", static_cast<double>(c.latency_sum_us) / 1000.0},
      {"mean_latency_ms", requests == 0 ? 0.0 : static_cast<double>(c.latency_sum_us) / 1000.0 / static_cast<double>(requests)},
  };
}

nlohmann::json totals_to_json(const std::vector<std::string>& names, const std::vector<Counts>& counts) {
  nlohmann::json totals = nlohmann::json::object();
  for (std::size_t v = 0; v < names.size() && v < counts.size(); ++v)
    if (counts[v].total() != 0) totals[names[v]] = counts_to_json(counts[v]);
  return totals;
}

}  // namespace canary::tools
