#include "canary/config.hpp"

#include <unistd.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "canary/clock.hpp"
#include "canary/detail/two_copy.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/fixed_text.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/segment.hpp"

namespace canary {

std::uint64_t config_checksum(const ConfigData& c) noexcept { return detail::checksum_of(c); }

const char* config_problem(const ConfigData& c, std::uint32_t endpoint_capacity, bool check_checksum) noexcept {
  if (c.share_bp > kMaxShareBp) return "share above 100%";
  if (c.ramp_count > kMaxRampSteps || c.require_approval > 1) return "ramp settings out of range";
  for (std::uint32_t i = 0; i < c.ramp_count; ++i)
    if (c.ramp_bp[i] == 0 || c.ramp_bp[i] > kMaxShareBp || (i > 0 && c.ramp_bp[i] <= c.ramp_bp[i - 1]))
      return "ramp steps out of range";
  if (c.enabled > 1 || c.awaiting_approval > 1) return "a flag is neither 0 nor 1";
  if (c.hash_mode > static_cast<std::uint8_t>(HashMode::md5)) return "unknown hash mode";
  if (c.state >= kDeploymentStateCount) return "unknown deployment state";
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5) && c.share_bp % 100 != 0)
    return "md5 mode takes whole percents only";
  const std::uint32_t max_endpoints = std::min(kMaxEndpoints, endpoint_capacity);
  if (c.endpoint_count < 1 || c.endpoint_count > max_endpoints) return "endpoint count out of range";
  if (c.override_count > kMaxOverrides) return "override count out of range";
  const EndpointEntry& other = c.endpoints[kOtherEndpoint];
  if (text_of(other.path) != kOtherEndpointName || !other.registered || other.canary)
    return "endpoint 0 is not 'other'";
  for (std::uint32_t id = 1; id < c.endpoint_count; ++id) {
    const EndpointEntry& e = c.endpoints[id];
    if (e.registered != 1 || e.canary > 1) return "an endpoint entry has a bad flag";
    const std::string_view path = text_of(e.path);
    if (path.size() != e.path_len || path.size() == sizeof(e.path)) return "an endpoint entry has a bad length";
    if (template_problem(path)) return "an endpoint entry holds an invalid template";
  }
  for (std::uint32_t i = 0; i < c.override_count; ++i) {
    const OverrideEntry& o = c.overrides[i];
    if (o.version > static_cast<std::uint8_t>(Version::canary)) return "an override has an unknown version";
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
  const auto state_before = static_cast<DeploymentState>(next->state);
  const std::uint32_t share_before = next->share_bp;
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
    e.share_before_bp = share_before;
    e.share_after_bp = next->share_bp;
    e.kind = event->kind;
    e.from = state_before;
    e.to = static_cast<DeploymentState>(next->state);
    e.latency_ms = event->latency_ms;
    e.actor = std::string(who);
    e.reason = event->reason;
    e.details_json = event->details_json;
    append_event(segment, std::move(e));
  }
  return Status::Ok();
}

}  // namespace canary
