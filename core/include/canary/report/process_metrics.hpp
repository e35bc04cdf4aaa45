// SPDX-License-Identifier: Apache-2.0
// The families every exporter has: canary_build_info{version,revision,layout} and the standard
// process_* families (CPU seconds, resident and virtual memory, open and maximum file
// descriptors, start time), read from /proc/self. Served by the aggregator and canary-fleet.
#pragma once

#include <string>

namespace canary::report {

std::string build_and_process_metrics();

}  // namespace canary::report
