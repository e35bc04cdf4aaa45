// SPDX-License-Identifier: Apache-2.0
// The seed's metrics JSON (get_metrics_summary / get_endpoint_metrics), key for key and in its
// string formats: "0.05%", "250.00", "+0.15%", "+8.00%", "420.00ms", "95.0%". Extra keys may be
// added, never renamed. Built from an aggregator snapshot or from the summary in the segment.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "canary/aggregator.hpp"
#include "canary/layout.hpp"
#include "canary/window_series.hpp"

namespace canary::report {

// One version's figures, whatever they come from.
VersionWindow from_summary(const SummaryStats& s);

// {"legacy": {...}, "canary": {...}, "comparison": {...}, "window": W}
nlohmann::json metrics_json(const VersionWindow& legacy, const VersionWindow& canary, Window window);

// A version's figures under its name.
struct NamedWindow {
  std::string name;
  VersionWindow window;
};
// The baseline first, then the candidates. Two versions: the seed's shape exactly ("legacy" and
// "canary" name the baseline and the first candidate). More: the same, plus "versions" {NAME:
// {...}} and "comparisons" {NAME: comparison against the baseline} for every candidate.
nlohmann::json metrics_json(const std::vector<NamedWindow>& versions, Window window);
// Every version slot in use (retired ones too: their counts stay), named from the config; without
// a config, legacy and canary.
std::vector<NamedWindow> shown_versions(const ConfigData* c, const std::function<VersionWindow(std::uint32_t)>& window_of);

// The metrics JSON from the summary the aggregator publishes in a segment (what any worker can
// serve as /api/v2/admin/canary/metrics without HTTP to the aggregator); nullopt when the segment
// has no summary yet (no aggregator ran) or cannot be opened.
std::optional<nlohmann::json> published_metrics_json(const std::string& segment_name, Window window);

// {TEMPLATE: {"legacy": {...}, "canary": {...}}} for every registered endpoint, and `other` when
// it had traffic.
nlohmann::json endpoints_json(const AggregatorSnapshot& s, Window window);

// The share as a JSON number: 5 or 12.5.
nlohmann::json share_json(std::uint32_t share_bp);

// The config as GET /api/v2/admin/canary/config shows it.
nlohmann::json config_json(const ConfigData& c);

// The string formats, exposed for tests: two decimals with a percent sign, signed with "+0.00%"
// for zero, and so on. `n/a` where a figure needs a version without requests.
std::string percent(double value);         // "0.05%"
std::string signed_percent(double value);  // "+0.15%", "-1.20%", "+0.00%"
std::string milliseconds(double value);    // "250.00"

}  // namespace canary::report
