// SPDX-License-Identifier: Apache-2.0
// The demo service: the seed's seven endpoints, each with a legacy and a canary handler, routed
// and recorded through <canary/writer.hpp>, plus the seed's admin URL answered from the summary
// the aggregator publishes in the segment.
#pragma once

#include <cstddef>
#include <string>

#include "control.hpp"

#include "canary/http/router.hpp"

namespace canary::demo {

// Larger request bodies get 413: no endpoint needs more than a user id and a query.
inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;

// `segment` is the name the workers attached to (the admin URL reads its summary).
http::Router make_routes(Control& control, const std::string& segment);

}  // namespace canary::demo
