// SPDX-License-Identifier: Apache-2.0
#include "canary/report/memory_report.hpp"

#include <utility>

#include "canary/window_series.hpp"

namespace canary::report {

namespace {

// A level's bucket length now, in seconds.
std::uint64_t bucket_s(const MemoryBudget& m, std::uint32_t level) {
  return WindowSeries::bucket_ms(level) * m.factor(level) / 1000;
}

std::pair<const char*, std::uint64_t> parts_of(const MemoryParts& p, int i) {
  switch (i) {
    case 0: return {"windows", p.windows};
    case 1: return {"decisions", p.decisions};
    case 2: return {"experiments", p.experiments};
    default: return {"http", p.http};
  }
}

}  // namespace

nlohmann::json memory_json(const MemoryBudget& m) {
  nlohmann::json parts = nlohmann::json::object();
  for (int i = 0; i < 4; ++i) {
    const auto [name, bytes] = parts_of(m.last(), i);
    parts[name] = bytes;
  }
  nlohmann::json buckets = nlohmann::json::object();
  for (std::uint32_t level = 0; level < WindowSeries::kLevels; ++level)
    buckets[std::string(to_string(static_cast<Window>(level)))] = bucket_s(m, level);
  return {{"limit_bytes", m.limit()},
          {"estimate_bytes", m.last().total()},
          {"parts", parts},
          {"over_limit", m.over_limit()},
          {"cannot_coarsen_further", m.exhausted()},
          {"window_bucket_s", buckets}};
}

void memory_metrics(std::ostream& out, const MemoryBudget& m) {
  out << "# HELP canary_aggregator_memory_bytes What the aggregator holds on the heap, by part (its estimate).\n"
         "# TYPE canary_aggregator_memory_bytes gauge\n";
  for (int i = 0; i < 4; ++i) {
    const auto [name, bytes] = parts_of(m.last(), i);
    out << "canary_aggregator_memory_bytes{part=\"" << name << "\"} " << bytes << '\n';
  }
  out << "# HELP canary_aggregator_memory_limit_bytes --memory-limit (0: none).\n"
         "# TYPE canary_aggregator_memory_limit_bytes gauge\n"
         "canary_aggregator_memory_limit_bytes " << m.limit() << '\n'
      << "# HELP canary_aggregator_memory_over_limit 1 while the estimate is at or past the limit.\n"
         "# TYPE canary_aggregator_memory_over_limit gauge\n"
         "canary_aggregator_memory_over_limit " << (m.over_limit() ? 1 : 0) << '\n'
      << "# HELP canary_window_bucket_seconds The length of a window's buckets (longer once coarsened under the limit).\n"
         "# TYPE canary_window_bucket_seconds gauge\n";
  for (std::uint32_t level = 0; level < WindowSeries::kLevels; ++level)
    out << "canary_window_bucket_seconds{window=\"" << to_string(static_cast<Window>(level)) << "\"} " << bucket_s(m, level) << '\n';
}

}  // namespace canary::report
