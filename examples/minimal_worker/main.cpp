// SPDX-License-Identifier: Apache-2.0
// The smallest worker pool that uses canary-shm: a master attaches and forks; each worker routes
// and records its requests. docs/getting-started.md walks through it.
//   canary-minimal-worker [SEGMENT [WORKERS [REQUESTS]]]
#include <sys/wait.h>
#include <unistd.h>

#include <canary/writer.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

// Stands in for the service: the canary handler is the new version.
int handle(canary::Version version, int request) {
  if (version == canary::Version::canary) return request % 100 == 0 ? 500 : 200;
  return 200;
}

void serve(int worker, int requests) {
  for (int i = 0; i < requests; ++i) {
    const std::string user = "user-" + std::to_string(worker * requests + i);
    // 2. Route: which version serves this user on this endpoint.
    const canary::Decision d = canary::route(user, "/api/v2/conversations/abc/turn");
    const auto start = std::chrono::steady_clock::now();
    const int status = handle(d.version, i);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // 3. Record: how it went.
    canary::record(d.endpoint, canary::Method::post, d.user_hash, d.version, static_cast<std::uint32_t>(status),
                   static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* segment = argc > 1 ? argv[1] : "";
  const int workers = argc > 2 ? std::atoi(argv[2]) : 4;
  const int requests = argc > 3 ? std::atoi(argv[3]) : 1000;
  if (workers < 1 || requests < 1) {
    std::fprintf(stderr, "canary-minimal-worker: WORKERS and REQUESTS must be positive numbers\n");
    return 1;
  }
  // 1. Attach, once, before fork(): the workers inherit the mapping. Without a segment it fails
  // open: everyone is routed legacy and nothing is recorded.
  canary::attach(segment);
  for (int w = 0; w < workers; ++w) {
    if (fork() == 0) {
      serve(w, requests);
      _exit(0);
    }
  }
  int failed = 0;
  for (int status = 0; wait(&status) > 0;) failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::printf("%d workers served %d requests each\n", workers, requests);
  return failed == 0 ? 0 : 1;
}
