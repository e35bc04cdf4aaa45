// The demo service: the seed's seven endpoints, each with a legacy and a canary handler, routed
// and recorded through <canary/writer.hpp>, plus the seed's admin URL answered from the summary
// the aggregator publishes in the segment.
#pragma once

#include <string>

#include "control.hpp"

namespace httplib {
class Server;
}

namespace canary::demo {

// `segment` is the name the workers attached to (the admin URL reads its summary).
void add_routes(httplib::Server& server, Control& control, const std::string& segment);

}  // namespace canary::demo
