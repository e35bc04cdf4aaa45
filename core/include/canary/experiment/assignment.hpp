// SPDX-License-Identifier: Apache-2.0
// A user's arm in an experiment, on the worker's hot path: compiled from the config by each
// thread's Router (no lock, allocation or system call), one XXH3 of the id with the experiment's
// own salt, then at most kMaxArms comparisons.
//
// The hash h = XXH3_64(id, seed = salt): its low 32 bits modulo 10000 pick the arm (arms own
// consecutive ranges of buckets by their shares, control first), its high 32 bits modulo 10000
// decide whether the user is in the experiment at all (below the exposure share). Different salts
// make a user's arms in two experiments, and their version, independent.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "canary/bucket.hpp"
#include "canary/layout.hpp"
#include "canary/types.hpp"

namespace canary {

using ExperimentId = std::uint8_t;  // a slot of ConfigData::experiments

struct Assignment {
  std::uint64_t user_hash = 0;   // the experiment's hash of the user: what expose() and record_event() take
  ExperimentId experiment = 0;
  std::uint8_t arm = 0;          // 0 (control) whenever the user is not in the running experiment
  bool in_experiment = false;    // running, and the user is inside its exposure share: expose and record
};

class ExperimentTable {
 public:
  void compile(const ConfigData& c) noexcept;

  Assignment assign(ExperimentId experiment, std::string_view user_id) const noexcept {
    Assignment a;
    a.experiment = experiment;
    if (experiment >= kMaxExperiments || user_id.empty() || user_id.size() > kMaxUserIdBytes) return a;
    const Compiled& e = experiments_[experiment];
    if (e.state == ExperimentState::concluded) a.arm = e.fixed_arm;
    if (e.state != ExperimentState::running) return a;
    a.user_hash = user_hash(user_id, e.salt);
    if (static_cast<std::uint32_t>(a.user_hash >> 32) % kXxh3Buckets >= e.exposure_bp) return a;
    const std::uint32_t bucket = static_cast<std::uint32_t>(a.user_hash) % kXxh3Buckets;
    std::uint32_t arm = 0;
    while (arm + 1 < e.arm_count && bucket >= e.arm_end[arm]) ++arm;  // at most kMaxArms - 1 steps
    a.arm = static_cast<std::uint8_t>(arm);
    a.in_experiment = true;
    return a;
  }

  // Whether a running experiment routes an arm to a version: route() asks version_for() only then.
  bool routes_versions() const noexcept { return routing_ != 0; }
  // The version a running experiment's arm sends this user to on this endpoint, if any.
  std::optional<std::uint32_t> version_for(std::string_view user_id, EndpointId endpoint) const noexcept;

  std::optional<ExperimentId> find(std::string_view name) const noexcept;
  std::string_view name(ExperimentId experiment) const noexcept;
  std::string_view arm_name(ExperimentId experiment, std::uint8_t arm) const noexcept;
  // The index of a declared metric by name (what record_event() takes).
  std::optional<std::uint8_t> find_metric(ExperimentId experiment, std::string_view metric) const noexcept;

 private:
  struct Compiled {
    ExperimentState state = ExperimentState::free;
    std::uint8_t arm_count = 0;
    std::uint8_t fixed_arm = 0;
    std::uint8_t metric_count = 0;
    std::uint32_t exposure_bp = 0;
    std::uint64_t salt = 0;
    std::uint16_t arm_end[kMaxArms] = {};  // arm a owns buckets [arm_end[a - 1], arm_end[a])
    std::uint8_t arm_version[kMaxArms] = {};
    std::uint64_t endpoints_on[2] = {};
    char name[32] = {};
    char arm_names[kMaxArms][32] = {};
    char metric_names[kMaxExperimentMetrics][32] = {};
  };
  Compiled experiments_[kMaxExperiments];
  std::uint8_t routing_ = 0;  // bit x: experiment x is running with a version-bound arm
};

}  // namespace canary
