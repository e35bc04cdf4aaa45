// SPDX-License-Identifier: Apache-2.0
#include "canary/types.hpp"

#include <array>

namespace canary {

namespace {
constexpr std::array<std::string_view, kMaxVersions> kVersionNames = {"legacy", "canary", "v2", "v3", "v4", "v5", "v6", "v7"};
constexpr std::array<std::string_view, 2> kHashNames = {"xxh3", "md5"};
constexpr std::array<std::string_view, kDeploymentStateCount> kStateNames = {"running", "paused", "rolled_back",
                                                                              "promoted", "inconclusive"};
constexpr std::array<std::string_view, kMethodCount> kMethodNames = {"GET",    "POST",   "PUT",
                                                                      "PATCH", "DELETE", "other"};
constexpr std::array<std::string_view, kEventKindCount> kEventNames = {
    "none", "started", "share_changed", "ramp_step", "awaiting_approval", "promoted", "rolled_back", "paused", "resumed", "inconclusive",
    "srm_detected", "srm_cleared", "switched", "switched_back"};
constexpr std::array<std::string_view, kStatusClassCount> kClassNames = {"0",   "1xx", "2xx",    "3xx",
                                                                          "4xx", "5xx", "invalid"};
constexpr std::array<std::string_view, kExperimentStateCount> kExperimentStateNames = {"free", "draft", "running",
                                                                                      "stopped", "concluded"};
constexpr std::array<std::string_view, kMetricKindCount> kMetricKindNames = {"conversion", "sum", "count"};

template <class Enum, std::size_t N>
std::string_view name_of(const std::array<std::string_view, N>& names, Enum e) {
  auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : std::string_view("unknown");
}
}  // namespace

std::string_view to_string(Version v) { return name_of(kVersionNames, v); }
std::string_view to_string(HashMode m) { return name_of(kHashNames, m); }
std::string_view to_string(DeploymentState s) { return name_of(kStateNames, s); }
std::string_view to_string(Method m) { return name_of(kMethodNames, m); }
std::string_view to_string(StatusClass c) { return name_of(kClassNames, c); }
std::string_view to_string(EventKind k) { return name_of(kEventNames, k); }
std::string_view to_string(ExperimentState s) { return name_of(kExperimentStateNames, s); }
std::string_view to_string(MetricKind k) { return name_of(kMetricKindNames, k); }

std::optional<MetricKind> parse_metric_kind(std::string_view s) {
  for (std::size_t i = 0; i < kMetricKindNames.size(); ++i)
    if (s == kMetricKindNames[i]) return static_cast<MetricKind>(i);
  return std::nullopt;
}

std::optional<Version> parse_version(std::string_view s) {
  for (std::size_t i = 0; i < 2; ++i)
    if (s == kVersionNames[i]) return static_cast<Version>(i);
  return std::nullopt;
}

std::optional<HashMode> parse_hash_mode(std::string_view s) {
  for (std::size_t i = 0; i < kHashNames.size(); ++i)
    if (s == kHashNames[i]) return static_cast<HashMode>(i);
  return std::nullopt;
}

Method parse_method(std::string_view s) {
  for (std::size_t i = 0; i + 1 < kMethodNames.size(); ++i)
    if (s == kMethodNames[i]) return static_cast<Method>(i);
  return Method::other;
}

}  // namespace canary
