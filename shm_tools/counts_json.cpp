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

nlohmann::json totals_to_json(const Counts& legacy, const Counts& canary) {
  nlohmann::json totals = nlohmann::json::object();
  if (legacy.total() != 0) totals["legacy"] = counts_to_json(legacy);
  if (canary.total() != 0) totals["canary"] = counts_to_json(canary);
  return totals;
}

}  // namespace canary::tools
