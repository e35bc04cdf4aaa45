// SPDX-License-Identifier: Apache-2.0
#include "etcd_flags.hpp"

#include <fstream>

#include "canary/log.hpp"
#include "tool_common.hpp"

namespace canary::tools {

void add_etcd_options(CLI::App& app, EtcdFlags& f) {
  app.add_option("--etcd", f.endpoints, "fleet mode: etcd endpoints, comma-separated http(s)://HOST:PORT");
  app.add_option("--etcd-cacert", f.cacert, "trust etcd's TLS certificate from this CA bundle (PEM)");
  app.add_option("--etcd-cert", f.cert, "client certificate for etcd (PEM)");
  app.add_option("--etcd-key", f.key, "its private key (PEM)");
  app.add_option("--etcd-user", f.user, "etcd user (auth enabled)");
  app.add_option("--etcd-password-file", f.password_file, "the etcd user's password: this file's first line");
  app.add_option("--etcd-timeout-ms", f.timeout_ms, "each etcd call, per endpoint tried (default 2000)");
}

Expected<fleet::EtcdOptions> etcd_options(const EtcdFlags& f) {
  fleet::EtcdOptions o;
  auto endpoints = fleet::parse_endpoints(f.endpoints);
  if (!endpoints) return endpoints.status();
  o.endpoints = std::move(*endpoints);
  auto timeout = parse_bounded(f.timeout_ms, "--etcd-timeout-ms", 50, 60000);
  if (!timeout) return timeout.status();
  o.timeout = std::chrono::milliseconds(*timeout);
  if (f.cert.empty() != f.key.empty()) return Status{Errc::invalid_argument, "--etcd-cert and --etcd-key go together"};
  for (const std::string* file : {&f.cacert, &f.cert, &f.key})
    if (!file->empty() && !std::ifstream(*file)) return Status{Errc::invalid_argument, "cannot read '" + *file + "'"};
  o.ca_file = f.cacert;
  o.cert_file = f.cert;
  o.key_file = f.key;
  if (!f.user.empty()) {
    if (f.password_file.empty()) return Status{Errc::invalid_argument, "--etcd-user needs --etcd-password-file"};
    std::ifstream in(f.password_file);
    if (!in) return Status{Errc::invalid_argument, "cannot read --etcd-password-file '" + f.password_file + "'"};
    std::getline(in, o.password);
    while (!o.password.empty() && (o.password.back() == '\r' || o.password.back() == ' ')) o.password.pop_back();
    o.user = f.user;
    warn_if_world_readable(f.password_file, "--etcd-password-file");
    // etcd's auth sends the password in a request body: over http:// anyone on the path reads it.
    if (f.endpoints.find("http://") != std::string::npos)
      log(LogLevel::warn, "the etcd password is sent in clear text: use https:// endpoints (with --etcd-cacert)",
          {{"etcd", f.endpoints}, {"user", f.user}});
  }
  return o;
}

}  // namespace canary::tools
