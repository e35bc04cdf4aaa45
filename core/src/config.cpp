// SPDX-License-Identifier: Apache-2.0
#include "canary/config.hpp"

#include <unistd.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "canary/clock.hpp"
#include "canary/detail/two_copy.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/fixed_text.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/segment.hpp"
#include "canary/versions.hpp"

namespace canary {

std::uint64_t config_checksum(const ConfigData& c) noexcept { return detail::checksum_of(c); }

namespace {

const char* versions_problem(const ConfigData& c) {
  if (c.version_count < 2 || c.version_count > kMaxVersions) return "version count out of range";
  if (c.baseline >= c.version_count) return "the baseline is not in the version table";
  std::uint32_t sum = 0;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    const VersionEntry& e = c.versions[v];
    if (v >= c.version_count) {
      if (e.slot != kSlotFree || e.share_bp != 0) return "a version slot beyond the count is in use";
      continue;
    }
    if (e.slot != kSlotActive && e.slot != kSlotRetired) return "a version slot has an unknown kind";
    if (v == c.baseline && e.slot != kSlotActive) return "the baseline is not active";
    if (!version_name_problem(text_of(e.name)).empty()) return "a version has an invalid name";
    for (std::uint32_t w = 0; w < v; ++w)
      if (text_of(c.versions[w].name) == text_of(e.name)) return "two versions have the same name";
    if (e.state >= kDeploymentStateCount || e.awaiting_approval > 1 || e.srm_detected > 1)
      return "a version has a bad state or flag";
    if (e.share_bp > kMaxShareBp || (v == c.baseline && e.share_bp != 0)) return "a version's share is out of range";
    if (e.slot == kSlotRetired && e.share_bp != 0) return "a removed version still has a share";
    for (std::uint32_t id = c.endpoint_count; id < 128; ++id)
      if (endpoint_on(e, id)) return "a version is on for an unregistered endpoint";
    if (endpoint_on(e, kOtherEndpoint)) return "a version is on for 'other'";
    sum += e.share_bp;
  }
  if (sum > kMaxShareBp) return "the candidates' shares sum above 100%";
  if (c.switched > 1 || (c.switched && (c.switch_to >= c.version_count || c.switch_from >= c.version_count)))
    return "the blue-green switch names an unknown version";
  return allotment_problem(c);
}

}  // namespace

const char* config_problem(const ConfigData& c, std::uint32_t endpoint_capacity, bool check_checksum) noexcept {
  if (c.ramp_count > kMaxRampSteps || c.require_approval > 1) return "ramp settings out of range";
  for (std::uint32_t i = 0; i < c.ramp_count; ++i)
    if (c.ramp_bp[i] == 0 || c.ramp_bp[i] > kMaxShareBp || (i > 0 && c.ramp_bp[i] <= c.ramp_bp[i - 1]))
      return "ramp steps out of range";
  if (c.enabled > 1) return "a flag is neither 0 nor 1";
  if (c.hash_mode > static_cast<std::uint8_t>(HashMode::md5)) return "unknown hash mode";
  const std::uint32_t max_endpoints = std::min(kMaxEndpoints, endpoint_capacity);
  if (c.endpoint_count < 1 || c.endpoint_count > max_endpoints) return "endpoint count out of range";
  if (const char* why = versions_problem(c)) return why;
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5) &&
      (c.version_count != 2 || c.baseline != kBaseline || c.versions[kFirstCandidate].share_bp % 100 != 0))
    return "md5 mode takes one candidate and whole percents only";
  if (c.override_count > kMaxOverrides) return "override count out of range";
  if (const char* why = experiment::experiments_problem(c)) return why;
  const EndpointEntry& other = c.endpoints[kOtherEndpoint];
  if (text_of(other.path) != kOtherEndpointName || !other.registered || other.reserved_flag)
    return "endpoint 0 is not 'other'";
  for (std::uint32_t id = 1; id < c.endpoint_count; ++id) {
    const EndpointEntry& e = c.endpoints[id];
    if (e.registered != 1 || e.reserved_flag != 0) return "an endpoint entry has a bad flag";
    const std::string_view path = text_of(e.path);
    if (path.size() != e.path_len || path.size() == sizeof(e.path)) return "an endpoint entry has a bad length";
    if (template_problem(path)) return "an endpoint entry holds an invalid template";
  }
  for (std::uint32_t i = 0; i < c.override_count; ++i) {
    const OverrideEntry& o = c.overrides[i];
    if (o.version >= c.version_count) return "an override has an unknown version";
    if (o.id_len < 1 || o.id_len > kMaxUserIdBytes) return "an override has a bad id length";
  }
  if (check_checksum && c.checksum != config_checksum(c)) return "checksum mismatch";
  return nullptr;
}

ConfigRead read_config(const ConfigBlock& block, ConfigData& out, std::uint32_t endpoint_capacity) noexcept {
  const std::uint32_t attempt = detail::read_two_copy(block, out, kConfigReadAttempts, [&](const ConfigData& c) {
    return config_problem(c, endpoint_capacity, /*check_checksum=*/false) == nullptr;
  });
  return {attempt != 0, attempt != 0 ? attempt : kConfigReadAttempts};
}

void publish_config(ConfigBlock& block, ConfigData& next) noexcept { detail::publish_two_copy(block, next); }

Status update_config(Segment& segment, std::string_view who, const ConfigChange& change, EventDraft* event) {
  if (segment.access() != Access::read_write) return {Errc::invalid_argument, "segment is attached read-only"};
  // The OFD lock excludes other processes; threads of this one share the descriptor's lock.
  static std::mutex in_process;
  std::lock_guard guard(in_process);
  if (Status s = lock_byte(segment.fd(), kConfigLockByte, std::chrono::seconds(5)); !s.ok())
    return {s.code(), "cannot change the config: " + s.message()};
  struct Unlock {
    int fd;
    ~Unlock() { unlock_byte(fd, kConfigLockByte); }
  } unlock{segment.fd()};

  const std::uint32_t capacity = segment.geometry().params.endpoint_capacity;
  auto next = std::make_unique<ConfigData>();  // 37 KB: kept off the caller's stack
  if (!read_config(segment.config(), *next, capacity).ok)
    return {Errc::corrupt, "the segment's config is corrupt: neither copy is valid"};
  VersionEntry before[kMaxVersions];  // what the event compares with: the version it names, before
  std::memcpy(before, next->versions, sizeof(before));
  if (Status s = change(*next); !s.ok()) return s;
  next->changed_unix_ns = unix_now_ns();
  set_text(next->changed_by, who);
  if (const char* why = config_problem(*next, capacity, /*check_checksum=*/false))
    return {Errc::invalid_argument, std::string("the change would make the config invalid: ") + why};
  publish_config(segment.config(), *next);
  if (event != nullptr && event->kind != EventKind::none) {
    Event e;
    e.unix_ns = next->changed_unix_ns;
    e.monotonic_ms = monotonic_ms();
    e.config_generation = next->generation;
    const std::uint32_t v = event->version < kMaxVersions ? event->version : kFirstCandidate;
    e.version = v;
    e.version_name = std::string(version_name(*next, v));
    e.share_before_bp = before[v].share_bp;
    e.share_after_bp = next->versions[v].share_bp;
    e.kind = event->kind;
    e.from = static_cast<DeploymentState>(before[v].state);
    e.to = static_cast<DeploymentState>(next->versions[v].state);
    e.latency_ms = event->latency_ms;
    e.actor = std::string(who);
    e.reason = event->reason;
    e.details_json = event->details_json;
    append_event(segment, std::move(e));
  }
  return Status::Ok();
}

}  // namespace canary
