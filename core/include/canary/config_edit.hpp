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

Status set_share(ConfigData& c, std::uint32_t share_bp);
Status set_enabled(ConfigData& c, bool enabled);
Status add_endpoint(ConfigData& c, std::string_view path, std::uint32_t endpoint_capacity);
Status remove_endpoint(ConfigData& c, std::string_view path);
Status set_hash_mode(ConfigData& c, HashMode mode);
Status set_salt(ConfigData& c, std::uint64_t salt);
Status pin_user(ConfigData& c, std::string_view user_id, Version version);
Status unpin_user(ConfigData& c, std::string_view user_id);

// Empty when `user_id` is 1 to 1024 bytes, else why not.
std::string user_id_problem(std::string_view user_id);

}  // namespace canary
