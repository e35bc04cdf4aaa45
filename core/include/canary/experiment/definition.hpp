// SPDX-License-Identifier: Apache-2.0
// An experiment's definition in the config (layout.hpp: ExperimentEntry) and the changes made to
// it: create, start, stop, conclude. canary-ctl and the admin API parse the same text and call the
// same functions; each leaves the config untouched when it returns an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/layout.hpp"
#include "canary/status.hpp"
#include "canary/types.hpp"

namespace canary::experiment {

struct ArmSpec {
  std::string name;
  std::uint32_t share_bp = 0;
  std::string version;  // empty: a plain flag
};

struct MetricSpec {
  std::string name;
  MetricKind kind = MetricKind::conversion;
};

struct ExperimentSpec {
  std::string name;
  std::vector<ArmSpec> arms;           // arms[0] is control
  std::vector<std::string> endpoints;  // templates; empty: every endpoint
  std::vector<MetricSpec> metrics;
  std::uint32_t exposure_bp = kMaxShareBp;
  std::uint64_t salt = 0;  // 0: one drawn from the name and the time of creation
};

// "control:50,treatment:50" (percent, decimals allowed down to 0.01); an arm may name a version
// as "NAME:SHARE@VERSION". The shares must sum to 100.
Expected<std::vector<ArmSpec>> parse_arms(std::string_view text);
// "clicks:conversion", "revenue:sum", "views:count".
Expected<MetricSpec> parse_metric(std::string_view text);

// The slot of the experiment with this name, if any.
std::optional<std::uint32_t> find_experiment(const ConfigData& c, std::string_view name);
// The slot of the experiment the name or an error that lists those there are.
Expected<std::uint32_t> pick_experiment(const ConfigData& c, std::string_view name);

// A new experiment in a free slot, as a draft.
Expected<std::uint32_t> create(ConfigData& c, const ExperimentSpec& spec, std::uint64_t now_unix_ns);
// draft or stopped -> running. `drops_now` is the segment's count of lost records per slot
// (tracker.hpp's drops_from): the first start keeps it, so the experiment's drops count from there
// whether an aggregator runs or not.
Status start(ConfigData& c, std::string_view name, std::uint64_t now_unix_ns,
             const std::uint64_t (&drops_now)[kMaxExperiments]);
// running -> stopped: everyone gets control again; the results stay.
Status stop(ConfigData& c, std::string_view name, std::string_view reason, std::uint64_t now_unix_ns);
// running, stopped or draft -> concluded: everyone gets `arm` (a name; empty: control).
Status conclude(ConfigData& c, std::string_view name, std::string_view arm, std::uint64_t now_unix_ns);
// A concluded, stopped or draft experiment's slot freed, for a new one (its results go with it).
Status remove(ConfigData& c, std::string_view name);

// Running experiments with an arm bound to a version that is no longer active or was rolled back:
// the aggregator stops them (an arm bound to a version inherits its rollback, SPEC section 10a).
std::vector<std::string> unguarded(const ConfigData& c);

// Why the experiment table is invalid, or nullptr (part of config_problem: no allocation).
const char* experiments_problem(const ConfigData& c) noexcept;

}  // namespace canary::experiment
