// SPDX-License-Identifier: Apache-2.0
#include "canary/router.hpp"

#include <time.h>

#include <cstring>

#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/versions.hpp"

namespace canary {

void Router::bind(const ConfigBlock* block, std::uint32_t endpoint_capacity,
                  const std::atomic<std::uint64_t>* heartbeat_unix_ns) noexcept {
  heartbeat_unix_ns_ = heartbeat_unix_ns;
  if (block == nullptr) {
    // Unbound: forget the compiled config, so everyone routes legacy.
    enabled_ = false;
    baseline_ = Version::legacy;
    for (std::uint8_t& flags : endpoint_versions_) flags = 0;
    pin_count_ = 0;
    matcher_ = TemplateMatcher{};
    experiments_ = ExperimentTable{};
  }
  block_ = block;
  endpoint_capacity_ = endpoint_capacity;
  generation_ = 0;  // no generation is ever published as 0, so the next call compiles
  refresh();
}

void Router::refresh_slow(std::uint64_t published) noexcept {
  if (!read_config(*block_, scratch_, endpoint_capacity_).ok) {
    // Keep routing with what was compiled before; the next call tries again.
    ++failed_refreshes_;
    return;
  }
  const ConfigData& c = scratch_;
  salt_ = c.salt;
  enabled_ = c.enabled != 0;
  md5_mode_ = c.hash_mode == static_cast<std::uint8_t>(HashMode::md5);
  md5_share_percent_ = c.versions[kFirstCandidate].share_bp / 100;
  version_count_ = c.version_count;
  baseline_ = static_cast<Version>(c.baseline);
  const std::uint8_t baseline_bit = static_cast<std::uint8_t>(1u << c.baseline);
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    const std::string_view name = text_of(c.versions[v].name);
    std::memcpy(names_[v], name.data(), name.size());
    name_lengths_[v] = static_cast<std::uint8_t>(name.size());
  }
  for (std::uint32_t id = 0; id < kMaxEndpoints; ++id) {
    std::uint8_t flags = 0;
    for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v)  // no allocation here
      if (v != c.baseline && c.versions[v].slot == kSlotActive && endpoint_on(c.versions[v], id)) flags |= std::uint8_t(1u << v);
    endpoint_versions_[id] = enabled_ && id < c.endpoint_count && flags != 0 ? flags | baseline_bit : 0;
  }
  // A blue-green switch sends every user to one version (pins still win); the allotment underneath
  // is kept for switch --back.
  if (c.switched) {
    std::memset(bucket_owner_, c.switch_to, sizeof(bucket_owner_));
    for (std::uint32_t id = 1; id < c.endpoint_count && id < kMaxEndpoints; ++id)
      endpoint_versions_[id] = enabled_ ? std::uint8_t(baseline_bit | (1u << c.switch_to)) : 0;
  } else {
    std::memcpy(bucket_owner_, c.bucket_owner, sizeof(bucket_owner_));
  }
  // After a rollback nobody sees that candidate, pinned or not; other pins still hold.
  pin_count_ = 0;
  for (std::uint32_t i = 0; i < c.override_count; ++i) {
    const OverrideEntry& o = c.overrides[i];
    const VersionEntry& v = c.versions[o.version];
    if (o.version != c.baseline && (v.slot != kSlotActive || v.state == static_cast<std::uint8_t>(DeploymentState::rolled_back)))
      continue;
    pins_[pin_count_++] = Pin{o.id_hash_low, o.id_hash_high, o.version};
  }
  matcher_.compile(c);
  experiments_.compile(c);
  if (c.fail_safe_after_ms != fail_safe_after_ms_) {
    fail_safe_after_ms_ = c.fail_safe_after_ms;
    calls_until_clock_ = 1;  // judge the heartbeat on the next call
    heartbeat_checked_ns_ = 0;
    fail_safe_engaged_ = false;
  }
  // The copy read may be newer than `published` (a writer published again meanwhile); recording
  // the older number only costs one more refresh when the newer one is seen.
  generation_ = published;
}

Version Router::experiment_version(std::string_view user_id, EndpointId endpoint) noexcept {
  if (!enabled_ || endpoint == kOtherEndpoint || fail_safe_engaged()) return baseline_;
  const auto v = experiments_.version_for(user_id, endpoint);
  return v ? static_cast<Version>(*v) : baseline_;
}

void Router::check_heartbeat() noexcept {
  constexpr std::uint32_t kCallsPerClockRead = 16;
  calls_until_clock_ = kCallsPerClockRead;
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);  // vDSO: no system call
  const std::uint64_t now_ns = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(now.tv_nsec);
  if (heartbeat_checked_ns_ != 0 && now_ns - heartbeat_checked_ns_ < 1'000'000'000) return;
  heartbeat_checked_ns_ = now_ns;
  // relaxed: a timestamp compared with the clock, nothing read through it.
  const std::uint64_t beat = heartbeat_unix_ns_ ? heartbeat_unix_ns_->load(std::memory_order_relaxed) : 0;
  fail_safe_engaged_ = beat == 0 || now_ns > beat + std::uint64_t{fail_safe_after_ms_} * 1'000'000;
}

}  // namespace canary
