// SPDX-License-Identifier: Apache-2.0
// Routing a request: which version serves this user on this endpoint. One Router per thread: it
// keeps a compiled copy of the config and, on every call, compares the published generation with
// the one it compiled (one acquire load). Only when that changes does it copy and recompile the
// config, in bounded time and without allocating; there is no lock and no system call anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "canary/bucket.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/experiment/assignment.hpp"
#include "canary/layout.hpp"
#include "canary/types.hpp"

namespace canary {

struct Decision {
  Version version = Version::legacy;  // an index: 0 the baseline, 1.. the candidates (version_name())
  EndpointId endpoint = kOtherEndpoint;
  std::uint64_t user_hash = 0;  // what record() takes, so an id is hashed once per request
};

class Router {
 public:
  // A router bound to nothing routes everyone legacy (the fail-open state of a worker that could
  // not attach).
  Router() = default;
  // Binds to a config block (nullptr unbinds) and compiles its published config. The heartbeat is
  // what the fail-safe watches, when the config turns it on.
  void bind(const ConfigBlock* block, std::uint32_t endpoint_capacity,
            const std::atomic<std::uint64_t>* heartbeat_unix_ns = nullptr) noexcept;

  // A candidate iff enabled, the user is pinned to it or (not pinned and) in a bucket it owns, and
  // it is on for the endpoint; otherwise the baseline. An empty id, or one over 1024 bytes, is the
  // baseline.
  Decision route(std::string_view user_id, EndpointId endpoint) noexcept {
    refresh();
    Decision d{baseline_, endpoint, 0};
    if (user_id.empty() || user_id.size() > kMaxUserIdBytes) return d;
    d.user_hash = user_hash(user_id, salt_);
    if (endpoint < kMaxEndpoints && endpoint_versions_[endpoint] != 0 && !fail_safe_engaged()) {
      const std::uint32_t v = pick(user_id, d.user_hash);
      // The baseline's bit is always set: it serves whatever a candidate does not.
      if ((endpoint_versions_[endpoint] >> v) & 1) d.version = static_cast<Version>(v);
    }
    // A running experiment with an arm bound to a version routes the users the canary leaves on
    // the baseline (one predictable branch when no experiment does).
    if (experiments_.routes_versions() && d.version == baseline_) [[unlikely]]
      d.version = experiment_version(user_id, endpoint);
    return d;
  }

  // Matches the raw path (query string ignored) to an endpoint first; unknown paths are `other`.
  Decision route(std::string_view user_id, std::string_view raw_path) noexcept {
    refresh();
    return route(user_id, matcher_.match(raw_path));
  }

  // The seed's is_canary_user: ignores endpoints, honours `enabled`, overrides and rollback. True
  // for any candidate; version_of_user() says which.
  bool is_canary_user(std::string_view user_id) noexcept { return version_of_user(user_id) != baseline_; }

  Version version_of_user(std::string_view user_id) noexcept {
    refresh();
    if (!enabled_ || user_id.empty() || user_id.size() > kMaxUserIdBytes || fail_safe_engaged()) return baseline_;
    return static_cast<Version>(pick(user_id, user_hash(user_id, salt_)));
  }

  // The name of a version index in the compiled config ("legacy", "canary", ...); "" if none.
  std::string_view version_name(Version v) const noexcept {
    const auto i = static_cast<std::uint32_t>(v);
    return i < kMaxVersions ? std::string_view(names_[i], name_lengths_[i]) : std::string_view();
  }
  std::uint32_t version_count() const noexcept { return version_count_; }
  Version baseline() const noexcept { return baseline_; }
  // The index of the version with this name (a slot in use), if any.
  std::optional<Version> find_version(std::string_view name) const noexcept {
    for (std::uint32_t i = 0; i < version_count_ && i < kMaxVersions; ++i)
      if (name == version_name(static_cast<Version>(i))) return static_cast<Version>(i);
    return std::nullopt;
  }

  EndpointId resolve(std::string_view raw_path) noexcept {
    refresh();
    return matcher_.match(raw_path);
  }

  // The user's arm in an experiment (experiment/assignment.hpp), and the compiled table.
  Assignment assign(ExperimentId experiment, std::string_view user_id) noexcept {
    refresh();
    return experiments_.assign(experiment, user_id);
  }
  const ExperimentTable& experiments() noexcept {
    refresh();
    return experiments_;
  }

  // The config read route() does: has a new generation been published?
  void refresh() noexcept {
    if (block_ == nullptr) return;
    // acquire: pairs with publish_config's release, so a new generation's copy is complete.
    const std::uint64_t published = block_->published.load(std::memory_order_acquire);
    if (published != generation_) refresh_slow(published);
  }

  bool bound() const noexcept { return block_ != nullptr; }
  // The published generation this router has compiled (0: none yet).
  std::uint64_t generation() const noexcept { return generation_; }
  // Times a refresh found no complete copy in kConfigReadAttempts tries and kept the old config.
  std::uint64_t failed_refreshes() const noexcept { return failed_refreshes_; }

 private:
  struct Pin {
    std::uint64_t low;
    std::uint64_t high;
    std::uint8_t version;
  };

  void refresh_slow(std::uint64_t published) noexcept;
  Version experiment_version(std::string_view user_id, EndpointId endpoint) noexcept;
  void check_heartbeat() noexcept;

  // The fail-safe (off unless the policy sets fail_safe_after_ms): everyone legacy while the
  // aggregator's heartbeat is stale. A coarse clock is read on one call in 16, the heartbeat
  // compared at most once a second, so the cost is a predictable branch.
  bool fail_safe_engaged() noexcept {
    if (fail_safe_after_ms_ == 0) return false;
    if (--calls_until_clock_ == 0) check_heartbeat();
    return fail_safe_engaged_;
  }

  // The version index a user goes to, endpoints aside: a pin, else the owner of the user's bucket
  // (md5 mode has one candidate: bucket < share).
  std::uint32_t pick(std::string_view user_id, std::uint64_t hash) const noexcept {
    if (pin_count_ != 0) {
      const XXH128_hash_t h = XXH3_128bits(user_id.data(), user_id.size());
      for (std::uint32_t i = 0; i < pin_count_; ++i)
        if (pins_[i].low == h.low64 && pins_[i].high == h.high64) return pins_[i].version;
    }
    if (md5_mode_) return md5_bucket(user_id) < md5_share_percent_ ? kFirstCandidate : kBaseline;
    return bucket_owner_[xxh3_bucket(hash)];
  }

  const ConfigBlock* block_ = nullptr;
  const std::atomic<std::uint64_t>* heartbeat_unix_ns_ = nullptr;
  std::uint32_t endpoint_capacity_ = 0;
  std::uint32_t fail_safe_after_ms_ = 0;
  std::uint32_t calls_until_clock_ = 1;
  bool fail_safe_engaged_ = false;
  std::uint64_t heartbeat_checked_ns_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t failed_refreshes_ = 0;
  // Compiled from config_:
  std::uint64_t salt_ = 0;
  std::uint32_t md5_share_percent_ = 0;
  bool enabled_ = false;
  bool md5_mode_ = false;
  // Bit v: version v may serve the endpoint. 0 when disabled, else the baseline's bit and those of
  // the candidates that are on for it.
  std::uint8_t endpoint_versions_[kMaxEndpoints] = {};
  std::uint8_t bucket_owner_[kMaxShareBp] = {};  // with a blue-green switch: every entry the same
  std::uint32_t version_count_ = 0;
  Version baseline_ = Version::legacy;  // unbound: legacy
  char names_[kMaxVersions][32] = {};
  std::uint8_t name_lengths_[kMaxVersions] = {};
  std::uint32_t pin_count_ = 0;
  Pin pins_[kMaxOverrides] = {};
  TemplateMatcher matcher_;
  ExperimentTable experiments_;
  ConfigData scratch_{};  // where refresh_slow copies the config to; 54 KB, so not on the stack
};

}  // namespace canary
