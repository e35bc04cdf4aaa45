// SPDX-License-Identifier: Apache-2.0
// canary-ctl --etcd ENDPOINTS --deployment NAME: the commands that act on a whole fleet, by
// writing its config in etcd (compare-and-swap on the config's revision), and `status`, which reads
// etcd and the leading controller's /api/v2/admin/canary/fleet.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "canary/decision/policy.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/status.hpp"
#include "ctl_wait.hpp"
#include "etcd_flags.hpp"

namespace canary::tools {

struct FleetTarget {
  EtcdFlags etcd;
  std::string deployment;
};

// Applies `edit` (it sees the fleet's policy) and prints the new generation.
int fleet_change(const FleetTarget& target, const std::string& action,
                 const std::function<Status(fleet::FleetConfig&, const Policy&)>& edit);
int fleet_status(const FleetTarget& target, std::ostream& out);
int fleet_policy_set(const FleetTarget& target, const std::string& file);
// `wait` on a fleet: its config's state, read from etcd.
RolloutReader fleet_rollout_reader(const FleetTarget& target);

// Empty when the local segment may be changed; else the refusal (it belongs to a fleet).
Status refuse_if_fleet_managed(const std::string& segment, const std::string& action);

}  // namespace canary::tools
