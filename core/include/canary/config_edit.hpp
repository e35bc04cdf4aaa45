// SPDX-License-Identifier: Apache-2.0
// Changes to a config, each validated on its own: the same rules for canary-ctl and the admin API.
// Every function leaves `c` untouched when it returns an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/layout.hpp"
#include "canary/status.hpp"
#include "canary/types.hpp"

namespace canary {

// The seven endpoints of the service this project was first built for.
const std::vector<std::string>& seed_endpoints();

struct InitialConfig {
  bool enabled = true;
  std::uint32_t share_bp = 500;
  HashMode hash = HashMode::xxh3;
  std::uint64_t salt = 0;
  std::vector<std::string> endpoints = seed_endpoints();  // registered with the canary flag on
};

// A config for a new segment: state running, `all` window starting now.
Expected<ConfigData> make_initial_config(const InitialConfig& init, std::uint32_t endpoint_capacity);

// The endpoint id whose template has the same shape as `path` (a template), if registered.
std::optional<EndpointId> find_endpoint(const ConfigData& c, std::string_view path);

// A candidate's share (a new step of its ramp); refused once it is rolled back or promoted.
Status set_share(ConfigData& c, std::uint32_t share_bp, std::uint32_t candidate = kFirstCandidate);
Status set_enabled(ConfigData& c, bool enabled);
// Registers (or re-enables) an endpoint for one candidate, or for every active one.
Status add_endpoint(ConfigData& c, std::string_view path, std::uint32_t endpoint_capacity,
                    std::optional<std::uint32_t> only = std::nullopt);
// Turns an endpoint off for one candidate, or for every one; its id and metrics stay.
Status remove_endpoint(ConfigData& c, std::string_view path, std::optional<std::uint32_t> only = std::nullopt);
// Whether some active candidate is on for the endpoint (the two-version "canary flag").
bool endpoint_to_any_candidate(const ConfigData& c, EndpointId id);
Status set_hash_mode(ConfigData& c, HashMode mode);
Status set_salt(ConfigData& c, std::uint64_t salt);
Status pin_user(ConfigData& c, std::string_view user_id, std::uint32_t version);
inline Status pin_user(ConfigData& c, std::string_view user_id, Version version) {
  return pin_user(c, user_id, static_cast<std::uint32_t>(version));
}
Status unpin_user(ConfigData& c, std::string_view user_id);

// Empty when `user_id` is 1 to 1024 bytes, else why not.
std::string user_id_problem(std::string_view user_id);

}  // namespace canary
