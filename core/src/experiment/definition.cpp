// SPDX-License-Identifier: Apache-2.0
#include "canary/experiment/definition.hpp"

#include <cstring>

#include "canary/config_edit.hpp"
#include "canary/detail/xxhash.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary::experiment {

namespace {

Status invalid(std::string message) { return {Errc::invalid_argument, std::move(message)}; }
Status refused(std::string message) { return {Errc::refused, std::move(message)}; }

std::vector<std::string_view> split(std::string_view text, char by) {
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t at = text.find(by);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

ExperimentState state_of(const ExperimentEntry& e) { return static_cast<ExperimentState>(e.state); }

std::string names_in_use(const ConfigData& c) {
  std::string out;
  for (const ExperimentEntry& e : c.experiments)
    if (e.state != static_cast<std::uint8_t>(ExperimentState::free)) out += (out.empty() ? "" : ", ") + std::string(text_of(e.name));
  return out.empty() ? "none" : out;
}

std::optional<std::uint32_t> find_arm(const ExperimentEntry& e, std::string_view name) {
  for (std::uint32_t a = 0; a < e.arm_count && a < kMaxArms; ++a)
    if (text_of(e.arms[a].name) == name) return a;
  return std::nullopt;
}

Expected<ExperimentEntry*> entry_named(ConfigData& c, std::string_view name) {
  auto slot = pick_experiment(c, name);
  if (!slot) return slot.status();
  return &c.experiments[*slot];
}

bool endpoint_bit(const ExperimentEntry& e, std::uint32_t id) { return ((e.endpoints_on[id / 64] >> (id % 64)) & 1) != 0; }

}  // namespace

Expected<std::vector<ArmSpec>> parse_arms(std::string_view text) {
  std::vector<ArmSpec> arms;
  std::uint32_t total = 0;
  for (std::string_view part : split(text, ',')) {
    const std::size_t colon = part.find(':');
    if (colon == std::string_view::npos)
      return invalid("arm '" + std::string(part) + "' is not NAME:SHARE (for example control:50)");
    ArmSpec arm;
    arm.name = std::string(part.substr(0, colon));
    std::string_view share = part.substr(colon + 1);
    if (const std::size_t at = share.find('@'); at != std::string_view::npos) {
      arm.version = std::string(share.substr(at + 1));
      share = share.substr(0, at);
      if (arm.version.empty()) return invalid("arm '" + arm.name + "' names no version after '@'");
    }
    if (std::string why = name_problem("arm name", arm.name); !why.empty()) return invalid(why);
    auto bp = parse_share_percent(share);
    if (!bp) return invalid("arm '" + arm.name + "': " + bp.status().message());
    if (*bp == 0) return invalid("arm '" + arm.name + "' has a share of 0");
    arm.share_bp = *bp;
    total += *bp;
    for (const ArmSpec& other : arms)
      if (other.name == arm.name) return invalid("arm '" + arm.name + "' is named twice");
    arms.push_back(std::move(arm));
  }
  if (arms.size() < 2 || arms.size() > kMaxArms)
    return invalid("an experiment has 2 to " + std::to_string(kMaxArms) + " arms; '" + std::string(text) + "' has " +
                   std::to_string(arms.size()));
  if (total != kMaxShareBp)
    return invalid("the arms' shares sum to " + format_share_percent(total) + "%; they must sum to 100%");
  return arms;
}

Expected<MetricSpec> parse_metric(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return invalid("metric '" + std::string(text) + "' is not NAME:KIND (KIND: conversion, sum or count)");
  MetricSpec metric;
  metric.name = std::string(text.substr(0, colon));
  if (std::string why = name_problem("metric name", metric.name); !why.empty()) return invalid(why);
  const auto kind = parse_metric_kind(text.substr(colon + 1));
  if (!kind)
    return invalid("metric '" + metric.name + "' has kind '" + std::string(text.substr(colon + 1)) +
                   "'; the kinds are conversion, sum and count");
  metric.kind = *kind;
  return metric;
}

std::optional<std::uint32_t> find_experiment(const ConfigData& c, std::string_view name) {
  for (std::uint32_t i = 0; i < kMaxExperiments; ++i)
    if (c.experiments[i].state != static_cast<std::uint8_t>(ExperimentState::free) && text_of(c.experiments[i].name) == name)
      return i;
  return std::nullopt;
}

Expected<std::uint32_t> pick_experiment(const ConfigData& c, std::string_view name) {
  if (auto slot = find_experiment(c, name)) return *slot;
  return Status{Errc::invalid_argument, "no experiment named '" + std::string(name) + "' (experiments: " + names_in_use(c) + ")"};
}

Expected<std::uint32_t> create(ConfigData& c, const ExperimentSpec& spec, std::uint64_t now_unix_ns) {
  if (std::string why = name_problem("experiment name", spec.name); !why.empty()) return invalid(why);
  if (find_experiment(c, spec.name)) return invalid("an experiment named '" + spec.name + "' exists already");
  if (spec.arms.size() < 2 || spec.arms.size() > kMaxArms)
    return invalid("an experiment has 2 to " + std::to_string(kMaxArms) + " arms");
  if (spec.metrics.size() > kMaxExperimentMetrics)
    return invalid("an experiment declares at most " + std::to_string(kMaxExperimentMetrics) + " metrics; " +
                   std::to_string(spec.metrics.size()) + " given");
  if (spec.exposure_bp == 0 || spec.exposure_bp > kMaxShareBp) return invalid("the exposure must be above 0% and at most 100%");
  std::optional<std::uint32_t> slot;
  for (std::uint32_t i = 0; i < kMaxExperiments && !slot; ++i)
    if (c.experiments[i].state == static_cast<std::uint8_t>(ExperimentState::free)) slot = i;
  if (!slot)
    return refused("all " + std::to_string(kMaxExperiments) + " experiment slots are in use; remove a concluded one first");

  ExperimentEntry e{};
  set_text(e.name, spec.name);
  e.salt = spec.salt != 0 ? spec.salt : XXH3_64bits_withSeed(spec.name.data(), spec.name.size(), now_unix_ns);
  e.created_unix_ns = now_unix_ns;
  e.exposure_bp = static_cast<std::uint16_t>(spec.exposure_bp);
  e.state = static_cast<std::uint8_t>(ExperimentState::draft);
  e.arm_count = static_cast<std::uint8_t>(spec.arms.size());
  std::uint32_t total = 0;
  for (std::size_t a = 0; a < spec.arms.size(); ++a) {
    const ArmSpec& arm = spec.arms[a];
    if (std::string why = name_problem("arm name", arm.name); !why.empty()) return invalid(why);
    ArmEntry& to = e.arms[a];
    set_text(to.name, arm.name);
    to.share_bp = static_cast<std::uint16_t>(arm.share_bp);
    to.version = kArmNoVersion;
    total += arm.share_bp;
    if (!arm.version.empty()) {
      const auto v = find_version(c, arm.version);
      if (!v || c.versions[*v].slot != kSlotActive)
        return invalid("arm '" + arm.name + "' names version '" + arm.version + "', which is not an active version");
      to.version = static_cast<std::uint8_t>(*v);
    }
  }
  if (total != kMaxShareBp) return invalid("the arms' shares must sum to 100%");
  e.metric_count = static_cast<std::uint8_t>(spec.metrics.size());
  for (std::size_t m = 0; m < spec.metrics.size(); ++m) {
    if (std::string why = name_problem("metric name", spec.metrics[m].name); !why.empty()) return invalid(why);
    for (std::size_t n = 0; n < m; ++n)
      if (spec.metrics[n].name == spec.metrics[m].name) return invalid("metric '" + spec.metrics[m].name + "' is declared twice");
    set_text(e.metrics[m].name, spec.metrics[m].name);
    e.metrics[m].kind = static_cast<std::uint8_t>(spec.metrics[m].kind);
  }
  for (const std::string& path : spec.endpoints) {
    const auto id = find_endpoint(c, path);
    if (!id || *id == kOtherEndpoint) return invalid("endpoint '" + path + "' is not registered (canary-ctl endpoint list)");
    e.endpoints_on[*id / 64] |= std::uint64_t{1} << (*id % 64);
  }
  set_text(e.reason, "created");
  c.experiments[*slot] = e;
  return *slot;
}

Status start(ConfigData& c, std::string_view name, std::uint64_t now_unix_ns,
             const std::uint64_t (&drops_now)[kMaxExperiments]) {
  auto e = entry_named(c, name);
  if (!e) return e.status();
  const ExperimentState s = state_of(**e);
  if (s == ExperimentState::running) return refused("experiment '" + std::string(name) + "' is running already");
  if (s == ExperimentState::concluded) return refused("experiment '" + std::string(name) + "' is concluded; create a new one");
  for (std::uint32_t a = 0; a < (*e)->arm_count; ++a) {
    const std::uint8_t v = (*e)->arms[a].version;
    if (v != kArmNoVersion && (v >= c.version_count || c.versions[v].slot != kSlotActive ||
                               c.versions[v].state == static_cast<std::uint8_t>(DeploymentState::rolled_back)))
      return refused("arm '" + std::string(text_of((*e)->arms[a].name)) + "' routes to version '" +
                     std::string(version_name(c, v)) + "', which is rolled back or removed");
  }
  if ((*e)->started_unix_ns == 0) (*e)->drops_at_start = drops_now[*e - c.experiments];
  (*e)->state = static_cast<std::uint8_t>(ExperimentState::running);
  (*e)->started_unix_ns = now_unix_ns;
  set_text((*e)->reason, "started");
  return Status::Ok();
}

Status stop(ConfigData& c, std::string_view name, std::string_view reason, std::uint64_t now_unix_ns) {
  auto e = entry_named(c, name);
  if (!e) return e.status();
  if (state_of(**e) != ExperimentState::running) return refused("experiment '" + std::string(name) + "' is not running");
  (*e)->state = static_cast<std::uint8_t>(ExperimentState::stopped);
  (*e)->ended_unix_ns = now_unix_ns;
  set_text((*e)->reason, reason.empty() ? std::string_view("stopped") : reason);
  return Status::Ok();
}

Status conclude(ConfigData& c, std::string_view name, std::string_view arm, std::uint64_t now_unix_ns) {
  auto e = entry_named(c, name);
  if (!e) return e.status();
  if (state_of(**e) == ExperimentState::concluded) return refused("experiment '" + std::string(name) + "' is concluded already");
  std::uint32_t winner = 0;
  if (!arm.empty()) {
    const auto a = find_arm(**e, arm);
    if (!a) return invalid("experiment '" + std::string(name) + "' has no arm named '" + std::string(arm) + "'");
    winner = *a;
  }
  (*e)->state = static_cast<std::uint8_t>(ExperimentState::concluded);
  (*e)->concluded_arm = static_cast<std::uint8_t>(winner);
  (*e)->ended_unix_ns = now_unix_ns;
  set_text((*e)->reason, "concluded: every user gets arm '" + std::string(text_of((*e)->arms[winner].name)) + "'");
  return Status::Ok();
}

Status remove(ConfigData& c, std::string_view name) {
  auto e = entry_named(c, name);
  if (!e) return e.status();
  if (state_of(**e) == ExperimentState::running) return refused("experiment '" + std::string(name) + "' is running; stop or conclude it first");
  **e = ExperimentEntry{};
  return Status::Ok();
}

std::vector<std::string> unguarded(const ConfigData& c) {
  std::vector<std::string> out;
  for (const ExperimentEntry& e : c.experiments) {
    if (state_of(e) != ExperimentState::running) continue;
    for (std::uint32_t a = 0; a < e.arm_count && a < kMaxArms; ++a) {
      const std::uint8_t v = e.arms[a].version;
      if (v == kArmNoVersion) continue;
      if (v >= c.version_count || c.versions[v].slot != kSlotActive ||
          c.versions[v].state == static_cast<std::uint8_t>(DeploymentState::rolled_back)) {
        out.emplace_back(text_of(e.name));
        break;
      }
    }
  }
  return out;
}

const char* experiments_problem(const ConfigData& c) noexcept {
  for (std::uint32_t i = 0; i < kMaxExperiments; ++i) {
    const ExperimentEntry& e = c.experiments[i];
    if (e.state >= kExperimentStateCount) return "an experiment has an unknown state";
    if (e.state == static_cast<std::uint8_t>(ExperimentState::free)) {
      if (e.name[0] != 0 || e.arm_count != 0) return "a free experiment slot is in use";
      continue;
    }
    const std::string_view name = text_of(e.name);
    if (!name_problem("experiment name", name).empty()) return "an experiment has an invalid name";
    for (std::uint32_t j = 0; j < i; ++j)
      if (c.experiments[j].state != 0 && text_of(c.experiments[j].name) == name) return "two experiments have the same name";
    if (e.arm_count < 2 || e.arm_count > kMaxArms) return "an experiment's arm count is out of range";
    if (e.metric_count > kMaxExperimentMetrics) return "an experiment's metric count is out of range";
    if (e.exposure_bp == 0 || e.exposure_bp > kMaxShareBp) return "an experiment's exposure is out of range";
    if (e.concluded_arm >= e.arm_count) return "an experiment's concluded arm is out of range";
    std::uint32_t total = 0;
    for (std::uint32_t a = 0; a < e.arm_count; ++a) {
      const ArmEntry& arm = e.arms[a];
      if (!name_problem("arm name", text_of(arm.name)).empty()) return "an experiment's arm has an invalid name";
      if (arm.share_bp == 0) return "an experiment's arm has no share";
      if (arm.version != kArmNoVersion && arm.version >= c.version_count) return "an experiment's arm names an unknown version";
      for (std::uint32_t b = 0; b < a; ++b)
        if (text_of(e.arms[b].name) == text_of(arm.name)) return "an experiment has two arms with the same name";
      total += arm.share_bp;
    }
    if (total != kMaxShareBp) return "an experiment's arm shares do not sum to 100%";
    for (std::uint32_t m = 0; m < e.metric_count; ++m) {
      if (!name_problem("metric name", text_of(e.metrics[m].name)).empty()) return "an experiment's metric has an invalid name";
      if (e.metrics[m].kind >= kMetricKindCount) return "an experiment's metric has an unknown kind";
    }
    for (std::uint32_t id = 0; id < 128; ++id)
      if (endpoint_bit(e, id) && (id == kOtherEndpoint || id >= c.endpoint_count)) return "an experiment names an unregistered endpoint";
  }
  return nullptr;
}

}  // namespace canary::experiment
