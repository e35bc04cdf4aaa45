// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/fleet_config.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "canary/clock.hpp"
#include "canary/config_edit.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary::fleet {

using json = nlohmann::json;

namespace {

std::optional<DeploymentState> parse_state(std::string_view s) {
  for (std::uint32_t i = 0; i < kDeploymentStateCount; ++i)
    if (to_string(static_cast<DeploymentState>(i)) == s) return static_cast<DeploymentState>(i);
  return std::nullopt;
}

template <std::size_t N>
void copy_text(char (&to)[N], std::string_view text) {
  std::memset(to, 0, N);
  std::memcpy(to, text.data(), std::min(text.size(), N - 1));
}

}  // namespace

std::string fleet_name_problem(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 64) return std::string(what) + " must be 1 to 64 characters";
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      return std::string(what) + " '" + std::string(name) + "' may hold only letters, digits, '.', '_' and '-'";
  return {};
}

std::string to_json(const FleetConfig& c) {
  json j{{"generation", c.generation},
         {"enabled", c.enabled},
         {"salt", c.salt},
         {"hash", std::string(to_string(c.hash))},
         {"candidate", c.candidate},
         {"state", std::string(to_string(c.state))},
         {"reason", c.reason},
         {"rollout_unix_ns", c.rollout_unix_ns},
         {"share_bp", c.share_bp},
         {"shares", c.shares},
         {"step_started_unix_ns", c.step_started_unix_ns},
         {"regions_rolled_back", c.regions_rolled_back},
         {"wave", c.wave},
         {"awaiting_approval", c.awaiting_approval},
         {"approved", c.approved},
         {"endpoints", c.endpoints},
         {"endpoints_off", c.endpoints_off},
         {"pins", c.pins},
         {"etcd_lost_legacy_ms", c.etcd_lost_legacy_ms},
         {"changed_by", c.changed_by}};
  return j.dump();
}

Expected<FleetConfig> parse_fleet_config(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status{Errc::corrupt, "the fleet config is not a JSON object"};
  FleetConfig c;
  try {
    c.generation = j.at("generation").get<std::uint64_t>();
    c.enabled = j.value("enabled", true);
    c.salt = j.value("salt", std::uint64_t{0});
    const auto hash = parse_hash_mode(j.value("hash", std::string("xxh3")));
    if (!hash) return Status{Errc::corrupt, "the fleet config's hash is neither xxh3 nor md5"};
    c.hash = *hash;
    c.candidate = j.value("candidate", std::string("canary"));
    if (!version_name_problem(c.candidate).empty()) return Status{Errc::corrupt, "the fleet config's candidate name is invalid"};
    const auto state = parse_state(j.value("state", std::string("running")));
    if (!state) return Status{Errc::corrupt, "the fleet config's state is not one of the deployment states"};
    c.state = *state;
    c.reason = j.value("reason", std::string());
    c.rollout_unix_ns = j.value("rollout_unix_ns", std::uint64_t{0});
    c.share_bp = j.value("share_bp", 0u);
    c.shares = j.value("shares", std::map<std::string, std::uint32_t>{});
    c.step_started_unix_ns = j.value("step_started_unix_ns", std::map<std::string, std::uint64_t>{});
    c.regions_rolled_back = j.value("regions_rolled_back", std::vector<std::string>{});
    c.wave = j.value("wave", 0u);
    c.awaiting_approval = j.value("awaiting_approval", false);
    c.approved = j.value("approved", false);
    c.endpoints = j.value("endpoints", std::vector<std::string>{});
    c.endpoints_off = j.value("endpoints_off", std::vector<std::string>{});
    c.pins = j.value("pins", std::map<std::string, std::string>{});
    c.etcd_lost_legacy_ms = j.value("etcd_lost_legacy_ms", std::uint64_t{0});
    c.changed_by = j.value("changed_by", std::string());
  } catch (const json::exception& e) {
    return Status{Errc::corrupt, std::string("the fleet config has a field of the wrong type: ") + e.what()};
  }
  if (c.share_bp > kMaxShareBp) return Status{Errc::corrupt, "the fleet config's share is above 100%"};
  for (const auto& [region, bp] : c.shares)
    if (bp > kMaxShareBp) return Status{Errc::corrupt, "the fleet config's share for " + region + " is above 100%"};
  return c;
}

Status apply_fleet_config(const FleetConfig& f, std::string_view region, ConfigData& config, std::uint32_t capacity) {
  ConfigData c = config;  // edits go to a copy: an error leaves `config` as it was
  c.fleet_managed = 1;
  if (Status s = set_enabled(c, f.enabled); !s.ok()) return s;
  if (c.hash_mode != static_cast<std::uint8_t>(f.hash))
    if (Status s = set_hash_mode(c, f.hash); !s.ok()) return s;
  if (c.salt != f.salt)
    if (Status s = set_salt(c, f.salt); !s.ok()) return s;
  constexpr std::uint32_t v = kFirstCandidate;
  VersionEntry& mine = c.versions[v];
  if (version_name(c, v) != f.candidate) copy_text(mine.name, f.candidate);
  const std::uint64_t now = unix_now_ns();
  if (f.rollout_unix_ns != 0 && c.rollout_started_unix_ns != f.rollout_unix_ns) {
    c.rollout_started_unix_ns = f.rollout_unix_ns;
    mine.started_unix_ns = f.rollout_unix_ns;
    mine.step_started_unix_ns = now;
  }
  mine.state = static_cast<std::uint8_t>(f.state);
  copy_text(mine.state_reason, f.reason);
  mine.awaiting_approval = f.awaiting_approval ? 1 : 0;
  const std::uint32_t share = f.share_for(region);
  if (mine.share_bp != share) {
    if (Status s = allot_share(c, v, share); !s.ok()) return s;
    mine.step_started_unix_ns = now;
  }
  for (const std::string& path : f.endpoints)
    if (!find_endpoint(c, path))
      if (Status s = add_endpoint(c, path, capacity); !s.ok()) return s;
  for (std::uint32_t e = 1; e < c.endpoint_count; ++e) {  // 0 is `other`: never routed to a candidate
    if (!c.endpoints[e].registered) continue;
    const std::string_view path(c.endpoints[e].path, std::min<std::size_t>(c.endpoints[e].path_len, sizeof c.endpoints[e].path));
    const bool off = std::find(f.endpoints_off.begin(), f.endpoints_off.end(), path) != f.endpoints_off.end();
    set_endpoint_on(mine, e, !off);
  }
  // Pins: exactly the fleet's.
  for (std::uint32_t i = 0; i < kMaxOverrides; ++i) c.overrides[i] = OverrideEntry{};
  c.override_count = 0;
  for (const auto& [user, version] : f.pins) {
    const auto index = find_version(c, version);
    if (!index) return Status{Errc::invalid_argument, "pin of '" + user + "': no version '" + version + "'"};
    if (Status s = pin_user(c, user, *index); !s.ok()) return s;
  }
  config = c;
  return Status::Ok();
}

}  // namespace canary::fleet
