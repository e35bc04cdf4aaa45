// SPDX-License-Identifier: Apache-2.0
// canary-fleet's HTTP side: the admin API of SPEC section 6 for the fleet (read-only here: the
// fleet changes through etcd, with canary-ctl --etcd), with `?region=R` and `?host=H` views,
// GET /api/v2/admin/canary/fleet (the hosts), /metrics and /healthz.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "canary/fleet/controller.hpp"
#include "canary/http/router.hpp"

namespace canary::fleet {

http::Router controller_routes(const FleetController& controller);
nlohmann::json fleet_hosts_json(const FleetView& v);
nlohmann::json fleet_status_json(const FleetView& v);
std::string fleet_metrics(const FleetView& v);

}  // namespace canary::fleet
