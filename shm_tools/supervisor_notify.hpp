// SPDX-License-Identifier: Apache-2.0
// Tells systemd (a unit of Type=notify) how the service is: READY=1 once it serves, RELOADING=1
// and READY=1 around a reload, STOPPING=1 on the way out. The protocol is one datagram to the
// socket named by $NOTIFY_SOCKET (sd_notify(3)); without it (no systemd, or another supervisor)
// nothing is sent. A `systemctl start` then returns once the aggregator serves, and a reload right
// after it cannot reach the process before its signals are handled.
#pragma once

#include <string_view>

namespace canary::tools {

void notify_supervisor(std::string_view state);

}  // namespace canary::tools
