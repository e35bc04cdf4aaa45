// SPDX-License-Identifier: Apache-2.0
#include "canary/config_edit.hpp"

#include <cstring>

#include "canary/clock.hpp"
#include "canary/detail/xxhash.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary {

namespace {

Status invalid(std::string message) { return {Errc::invalid_argument, std::move(message)}; }

void write_endpoint(EndpointEntry& e, std::string_view path) {
  e = EndpointEntry{};
  set_text(e.path, path);
  e.path_len = static_cast<std::uint32_t>(path.size());
  e.registered = 1;
}

// The candidates an endpoint command applies to: the one named, else every active one.
std::vector<std::uint32_t> targets(const ConfigData& c, std::optional<std::uint32_t> only) {
  return only ? std::vector<std::uint32_t>{*only} : active_candidates(c);
}

std::optional<std::uint32_t> find_override(const ConfigData& c, std::string_view user_id) {
  const XXH128_hash_t h = XXH3_128bits(user_id.data(), user_id.size());
  for (std::uint32_t i = 0; i < c.override_count; ++i)
    if (c.overrides[i].id_hash_low == h.low64 && c.overrides[i].id_hash_high == h.high64) return i;
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& seed_endpoints() {
  static const std::vector<std::string> endpoints = {
      "/api/v2/recommend/personalized",
      "/api/v2/recommend/compare",
      "/api/v2/conversations/start",
      "/api/v2/conversations/{session_id}/turn",
      "/api/v2/conversations/{session_id}",
      "/api/v2/conversations/{session_id}/close",
      "/api/v2/conversations",
  };
  return endpoints;
}

std::string user_id_problem(std::string_view user_id) {
  if (user_id.empty()) return "user id is empty";
  if (user_id.size() > kMaxUserIdBytes)
    return "user id is " + std::to_string(user_id.size()) + " bytes; the limit is " + std::to_string(kMaxUserIdBytes);
  return {};
}

Expected<ConfigData> make_initial_config(const InitialConfig& init, std::uint32_t endpoint_capacity) {
  ConfigData c{};
  if (init.share_bp > kMaxShareBp) return invalid("canary percentage is above 100");
  if (init.hash == HashMode::md5 && init.share_bp % 100 != 0)
    return invalid("md5 mode takes whole percents only; " + format_share_percent(init.share_bp) + " is fractional");
  c.enabled = init.enabled ? 1 : 0;
  c.hash_mode = static_cast<std::uint8_t>(init.hash);
  c.salt = init.salt;
  c.rollout_started_unix_ns = unix_now_ns();
  c.changed_unix_ns = c.rollout_started_unix_ns;
  set_text(c.changed_by, "canary-ctl init");
  c.version_count = 2;
  for (std::uint32_t v : {kBaseline, kFirstCandidate}) {
    VersionEntry& e = c.versions[v];
    set_text(e.name, to_string(static_cast<Version>(v)));
    e.slot = kSlotActive;
    e.state = static_cast<std::uint8_t>(DeploymentState::running);
    e.started_unix_ns = e.step_started_unix_ns = c.rollout_started_unix_ns;
    set_text(e.state_reason, "segment created");
  }
  if (Status s = allot_share(c, kFirstCandidate, init.share_bp); !s.ok()) return s;
  write_endpoint(c.endpoints[kOtherEndpoint], kOtherEndpointName);
  c.endpoint_count = 1;
  for (const std::string& path : init.endpoints)
    if (Status s = add_endpoint(c, path, endpoint_capacity); !s.ok()) return s;
  return c;
}

std::optional<EndpointId> find_endpoint(const ConfigData& c, std::string_view path) {
  auto normalized = normalize_template(path);
  if (!normalized) return std::nullopt;
  const std::string shape = template_shape(*normalized);
  for (std::uint32_t id = 1; id < c.endpoint_count && id < kMaxEndpoints; ++id)
    if (template_shape(text_of(c.endpoints[id].path)) == shape) return static_cast<EndpointId>(id);
  return std::nullopt;
}

Status set_share(ConfigData& c, std::uint32_t share_bp, std::uint32_t candidate) {
  if (share_bp > kMaxShareBp) return invalid("canary percentage is above 100");
  if (candidate < kFirstCandidate || candidate >= c.version_count || c.versions[candidate].slot != kSlotActive)
    return invalid("not an active candidate version");
  VersionEntry& v = c.versions[candidate];
  const auto state = static_cast<DeploymentState>(v.state);
  const std::string name(text_of(v.name));
  if (state == DeploymentState::rolled_back || state == DeploymentState::promoted)
    return {Errc::refused, (c.version_count > 2 ? "'" + name + "' is " : "the deployment is ") +
                               std::string(to_string(state)) + "; start a new rollout first (canary-ctl start)"};
  if (state == DeploymentState::inconclusive)
    return {Errc::refused, "the step was inconclusive: decide with promote --force, rollback or start"};
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5) && share_bp % 100 != 0)
    return invalid("md5 mode takes whole percents only; " + format_share_percent(share_bp) + " is fractional");
  if (c.switched) return {Errc::refused, "a blue-green switch is on; switch --back first"};
  if (share_bp != v.share_bp) {
    if (Status s = allot_share(c, candidate, share_bp); !s.ok()) return s;
    // A new share is a new step: the gate judges from here, and the ramp goes on from this share.
    v.step_started_unix_ns = unix_now_ns();
    v.awaiting_approval = 0;
    std::uint32_t index = 0;
    for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i)
      if (c.ramp_bp[i] <= share_bp) index = i;
    v.ramp_step = index;
  }
  return Status::Ok();
}

Status set_enabled(ConfigData& c, bool enabled) {
  c.enabled = enabled ? 1 : 0;
  return Status::Ok();
}

Status add_endpoint(ConfigData& c, std::string_view path, std::uint32_t endpoint_capacity,
                    std::optional<std::uint32_t> only) {
  auto normalized = normalize_template(path);
  if (!normalized) return normalized.status();
  std::optional<EndpointId> id = find_endpoint(c, *normalized);
  if (!id) {
    const std::uint32_t limit = std::min(kMaxEndpoints, endpoint_capacity);
    if (c.endpoint_count >= limit)
      return {Errc::refused, "the endpoint registry is full (" + std::to_string(limit - 1) +
                                 " endpoints besides 'other'; init --endpoints sets the room)"};
    write_endpoint(c.endpoints[c.endpoint_count], *normalized);
    id = static_cast<EndpointId>(c.endpoint_count++);
  }
  // New, or re-enabled: the id, and so its metrics, stay.
  for (std::uint32_t v : targets(c, only)) set_endpoint_on(c.versions[v], *id, true);
  return Status::Ok();
}

Status remove_endpoint(ConfigData& c, std::string_view path, std::optional<std::uint32_t> only) {
  if (path == kOtherEndpointName) return invalid("'other' is not a template and cannot be removed");
  auto normalized = normalize_template(path);
  if (!normalized) return normalized.status();
  auto id = find_endpoint(c, *normalized);
  if (!id) return invalid("unknown endpoint '" + *normalized + "'");
  // The id stays registered so its metrics stay.
  for (std::uint32_t v : targets(c, only)) set_endpoint_on(c.versions[v], *id, false);
  return Status::Ok();
}

bool endpoint_to_any_candidate(const ConfigData& c, EndpointId id) {
  for (std::uint32_t v : active_candidates(c))
    if (endpoint_on(c.versions[v], id)) return true;
  return false;
}

Status set_hash_mode(ConfigData& c, HashMode mode) {
  if (mode == HashMode::md5 && c.version_count != 2)
    return invalid("md5 mode supports one candidate only; this segment has had " + std::to_string(c.version_count - 1));
  const std::uint32_t share = c.versions[kFirstCandidate].share_bp;
  if (mode == HashMode::md5 && share % 100 != 0)
    return invalid("md5 mode takes whole percents only; the share is " + format_share_percent(share) +
                   "% (set a whole percent first)");
  c.hash_mode = static_cast<std::uint8_t>(mode);
  return Status::Ok();
}

Status set_salt(ConfigData& c, std::uint64_t salt) {
  c.salt = salt;
  return Status::Ok();
}

Status pin_user(ConfigData& c, std::string_view user_id, std::uint32_t version) {
  if (std::string why = user_id_problem(user_id); !why.empty()) return invalid(why);
  if (version >= c.version_count || c.versions[version].slot != kSlotActive) return invalid("not an active version");
  std::uint32_t slot = c.override_count;
  if (auto existing = find_override(c, user_id)) {
    slot = *existing;
  } else if (c.override_count >= kMaxOverrides) {
    return {Errc::refused, "all " + std::to_string(kMaxOverrides) + " override slots are in use (unpin one first)"};
  } else {
    ++c.override_count;
  }
  OverrideEntry& o = c.overrides[slot];
  const XXH128_hash_t h = XXH3_128bits(user_id.data(), user_id.size());
  o = OverrideEntry{};
  o.id_hash_low = h.low64;
  o.id_hash_high = h.high64;
  o.id_len = static_cast<std::uint32_t>(user_id.size());
  o.version = static_cast<std::uint8_t>(version);
  set_text(o.id_prefix, user_id);
  return Status::Ok();
}

Status unpin_user(ConfigData& c, std::string_view user_id) {
  if (std::string why = user_id_problem(user_id); !why.empty()) return invalid(why);
  auto slot = find_override(c, user_id);
  if (!slot) return invalid("user '" + std::string(user_id.substr(0, 40)) + "' is not pinned");
  c.overrides[*slot] = c.overrides[c.override_count - 1];
  c.overrides[c.override_count - 1] = OverrideEntry{};
  --c.override_count;
  return Status::Ok();
}

}  // namespace canary
