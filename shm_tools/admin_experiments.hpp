// SPDX-License-Identifier: Apache-2.0
// The admin API's experiments (SPEC section 10a): GET .../experiments[/NAME], POST .../experiments
// (create), POST .../experiments/NAME/{start,stop,conclude}, DELETE .../experiments/NAME.
#pragma once

#include <functional>

#include "canary/http/router.hpp"

namespace canary {
class Segment;
}

namespace canary::tools {

// `mutating` wraps a handler that changes the config (the admin token, fleet refusal).
void add_experiment_routes(http::Router& router, Segment& segment, const std::function<http::Route(http::Route)>& mutating);

}  // namespace canary::tools
