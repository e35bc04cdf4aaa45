// SPDX-License-Identifier: Apache-2.0
// Routes and records one request in the segment named by argv[1]; prints the version it got.
#include <canary/writer.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (!canary::attach(argv[1])) return 1;
  const canary::Decision d = canary::route("user-1", "/api/v2/conversations/abc/turn");
  canary::record(d.endpoint, canary::Method::post, d.user_hash, d.version, 200, 1000);
  std::puts(d.version == canary::Version::canary ? "canary" : "legacy");
  return 0;
}
