// SPDX-License-Identifier: Apache-2.0
// `canary-ctl status`: stable key: value lines, nothing that changes by itself (no clock, no
// heartbeat age), so scripts can diff two outputs.
#pragma once

#include <ostream>
#include <string>

namespace canary::tools {

int print_status(const std::string& segment, std::ostream& out);
// `canary-ctl status --json`: the same, and every event of the log, as one JSON object.
int print_status_json(const std::string& segment, std::ostream& out);
// `canary-ctl version list`: the version.N lines of status.
int print_versions(const std::string& segment, std::ostream& out);

}  // namespace canary::tools
