// SPDX-License-Identifier: Apache-2.0
// `canary-ctl status --watch`: the status, and again each time it changes (looked at every
// `--every` seconds), each time under a line with the local time, until SIGINT or SIGTERM. A
// segment that goes away is said once and waited for.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

namespace canary::tools {

int watch_status(const std::string& segment, bool json, std::chrono::milliseconds every, std::ostream& out);

}  // namespace canary::tools
