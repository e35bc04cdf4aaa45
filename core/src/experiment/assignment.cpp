// SPDX-License-Identifier: Apache-2.0
#include "canary/experiment/assignment.hpp"

#include <cstring>

#include "canary/fixed_text.hpp"

namespace canary {

void ExperimentTable::compile(const ConfigData& c) noexcept {
  routing_ = 0;
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    const ExperimentEntry& from = c.experiments[x];
    Compiled& to = experiments_[x];
    to = Compiled{};
    to.state = static_cast<ExperimentState>(from.state);
    if (to.state == ExperimentState::free) continue;
    to.arm_count = from.arm_count;
    to.fixed_arm = from.concluded_arm;
    to.metric_count = from.metric_count;
    to.exposure_bp = from.exposure_bp;
    to.salt = from.salt;
    std::memcpy(to.endpoints_on, from.endpoints_on, sizeof(to.endpoints_on));
    std::memcpy(to.name, from.name, sizeof(to.name));
    std::uint32_t end = 0;
    bool bound = false;
    for (std::uint32_t a = 0; a < from.arm_count && a < kMaxArms; ++a) {
      end += from.arms[a].share_bp;
      to.arm_end[a] = static_cast<std::uint16_t>(end);
      const std::uint8_t v = from.arms[a].version;
      // A bound arm routes only while its version is active and not rolled back.
      const bool live = v < c.version_count && c.versions[v].slot == kSlotActive &&
                        c.versions[v].state != static_cast<std::uint8_t>(DeploymentState::rolled_back);
      to.arm_version[a] = v != kArmNoVersion && live ? v : kArmNoVersion;
      bound = bound || to.arm_version[a] != kArmNoVersion;
      std::memcpy(to.arm_names[a], from.arms[a].name, sizeof(to.arm_names[a]));
    }
    for (std::uint32_t m = 0; m < from.metric_count && m < kMaxExperimentMetrics; ++m)
      std::memcpy(to.metric_names[m], from.metrics[m].name, sizeof(to.metric_names[m]));
    if (bound && to.state == ExperimentState::running) routing_ |= static_cast<std::uint8_t>(1u << x);
  }
}

std::optional<std::uint32_t> ExperimentTable::version_for(std::string_view user_id, EndpointId endpoint) const noexcept {
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    if (((routing_ >> x) & 1) == 0) continue;
    const Compiled& e = experiments_[x];
    const bool every_endpoint = e.endpoints_on[0] == 0 && e.endpoints_on[1] == 0;
    if (!every_endpoint && (endpoint >= 128 || ((e.endpoints_on[endpoint / 64] >> (endpoint % 64)) & 1) == 0)) continue;
    const Assignment a = assign(static_cast<ExperimentId>(x), user_id);
    if (a.in_experiment && e.arm_version[a.arm] != kArmNoVersion) return e.arm_version[a.arm];
  }
  return std::nullopt;
}

std::optional<ExperimentId> ExperimentTable::find(std::string_view experiment) const noexcept {
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x)
    if (experiments_[x].state != ExperimentState::free && text_of(experiments_[x].name) == experiment)
      return static_cast<ExperimentId>(x);
  return std::nullopt;
}

std::string_view ExperimentTable::name(ExperimentId experiment) const noexcept {
  return experiment < kMaxExperiments ? text_of(experiments_[experiment].name) : std::string_view();
}

std::string_view ExperimentTable::arm_name(ExperimentId experiment, std::uint8_t arm) const noexcept {
  if (experiment >= kMaxExperiments || arm >= experiments_[experiment].arm_count) return {};
  return text_of(experiments_[experiment].arm_names[arm]);
}

std::optional<std::uint8_t> ExperimentTable::find_metric(ExperimentId experiment, std::string_view metric) const noexcept {
  if (experiment >= kMaxExperiments) return std::nullopt;
  const Compiled& e = experiments_[experiment];
  for (std::uint32_t m = 0; m < e.metric_count; ++m)
    if (text_of(e.metric_names[m]) == metric) return static_cast<std::uint8_t>(m);
  return std::nullopt;
}

}  // namespace canary
