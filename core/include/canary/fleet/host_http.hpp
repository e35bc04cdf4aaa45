// SPDX-License-Identifier: Apache-2.0
// What a fleet host adds to its aggregator's admin API: the interval feed the controller pulls
// (GET /api/v2/admin/canary/fleet/intervals?after=EPOCH.SEQ, binary; the admin token when one is
// set), the "fleet" object of /status, and the canary_fleet_* gauges of /metrics.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "canary/fleet/host_agent.hpp"
#include "canary/http/router.hpp"

namespace canary::fleet {

// `agent` may answer null (the agent starts after the server, once its port is known): 503 then.
void add_host_routes(http::Router& router, std::function<HostAgent*()> agent,
                     std::function<bool(const http::Request&)> authorized);
nlohmann::json host_status_json(const HostAgent& agent);
std::string host_metrics(const HostAgent& agent);

}  // namespace canary::fleet
