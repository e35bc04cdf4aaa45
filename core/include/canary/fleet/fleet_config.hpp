// SPDX-License-Identifier: Apache-2.0
// The fleet's config as it lives in etcd (JSON at /canary/v1/DEPLOYMENT/config), and how a host
// applies it to its segment. One config for every host; what differs by region is the share.
//
// Fleet mode deploys one candidate (version slot 1, "canary" unless named) against the baseline:
// more versions stay single-host for now (docs/fleet.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "canary/layout.hpp"
#include "canary/status.hpp"
#include "canary/types.hpp"

namespace canary::fleet {

// Where a deployment's keys are (docs/fleet.md draws the layout).
struct Keys {
  std::string root;  // /canary/v1/DEPLOYMENT/
  explicit Keys(std::string_view deployment) : root("/canary/v1/" + std::string(deployment) + "/") {}
  std::string config() const { return root + "config"; }
  std::string policy() const { return root + "policy"; }
  std::string leader() const { return root + "leader"; }
  std::string state() const { return root + "state"; }  // the leader's checkpoint
  std::string hosts() const { return root + "hosts/"; }
  std::string host(std::string_view id) const { return hosts() + std::string(id); }
  std::string events() const { return root + "events/"; }
};

// Empty when `name` may be a deployment, host id or region ([A-Za-z0-9._-], 1-64 bytes), else why not.
std::string fleet_name_problem(std::string_view what, std::string_view name);

struct FleetConfig {
  std::uint64_t generation = 0;  // +1 on every change
  bool enabled = true;
  std::uint64_t salt = 0;
  HashMode hash = HashMode::xxh3;
  std::string candidate = "canary";
  DeploymentState state = DeploymentState::running;
  std::string reason;
  std::uint64_t rollout_unix_ns = 0;  // the last start: every host's `all` window starts here
  std::uint32_t share_bp = 0;         // regions not in `shares`
  std::map<std::string, std::uint32_t> shares;  // by region
  std::map<std::string, std::uint64_t> step_started_unix_ns;  // by region: its share's last change
  std::vector<std::string> regions_rolled_back;  // rollback.scope: region: these stay at 0
  std::uint32_t wave = 0;         // the policy's wave being rolled out (index into policy.regions)
  bool awaiting_approval = false;  // the last wave's next step is 100%: waits for `approve`
  bool approved = false;
  std::vector<std::string> endpoints;      // templates every host registers
  std::vector<std::string> endpoints_off;  // of those, the ones no user is routed to the candidate on
  std::map<std::string, std::string> pins;  // user id -> version name
  std::uint64_t etcd_lost_legacy_ms = 0;   // policy fleet.etcd_lost: legacy_after D; 0: keep
  std::string changed_by;

  std::uint32_t share_for(std::string_view region) const {
    for (const std::string& r : regions_rolled_back)
      if (r == region) return 0;
    const auto it = shares.find(std::string(region));
    return it == shares.end() ? share_bp : it->second;
  }
};

std::string to_json(const FleetConfig& c);
// Every field checked; a config another writer botched is refused, never half-applied.
Expected<FleetConfig> parse_fleet_config(std::string_view json);

// Writes the fleet config into a host's config: what a host of `region` routes by. Marks the
// config fleet-managed. Leaves `c` untouched when it returns an error.
Status apply_fleet_config(const FleetConfig& f, std::string_view region, ConfigData& c, std::uint32_t endpoint_capacity);

}  // namespace canary::fleet
