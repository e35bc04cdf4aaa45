// SPDX-License-Identifier: Apache-2.0
// The etcd options every fleet-mode tool takes (canary-aggregator, canary-fleet, canary-ctl):
// --etcd ENDPOINTS, TLS (--etcd-cacert, --etcd-cert, --etcd-key) and user/password auth
// (--etcd-user, --etcd-password-file: a password never appears in a process list).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "canary/fleet/etcd_client.hpp"

namespace canary::tools {

struct EtcdFlags {
  std::string endpoints, cacert, cert, key, user, password_file, timeout_ms = "2000";
};

void add_etcd_options(CLI::App& app, EtcdFlags& flags);
// The client's options, each file readable; or one line saying what is wrong.
Expected<fleet::EtcdOptions> etcd_options(const EtcdFlags& flags);

}  // namespace canary::tools
