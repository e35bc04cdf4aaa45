// SPDX-License-Identifier: Apache-2.0
// canary-record-ir: records N requests in one function, for `valgrind --tool=callgrind
// --toggle-collect=*record_requests*`, so the instruction count per record is total / N. Under
// valgrind rseq is not registered: this measures the atomic fallback path.
#include <cstdio>
#include <cstdlib>

#include "bench_segment.hpp"
#include "canary/writer.hpp"

namespace {

__attribute__((noinline)) void record_requests(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i)
    canary::record(static_cast<canary::EndpointId>(1 + (i & 7)), canary::Method::post, i * 0x9E3779B97F4A7C15ull,
                   (i & 31) == 0 ? canary::Version::canary : canary::Version::legacy, (i & 255) == 0 ? 503 : 200,
                   1000 + (i & 1023));
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  if (!canary::attach(canary::bench::bench_segment().name())) return 1;
  canary::record(1, canary::Method::get, 1, canary::Version::legacy, 200, 1);  // claims the ring
  record_requests(n);
  std::printf("recorded %llu requests (rseq %s)\n", static_cast<unsigned long long>(n),
              canary::writer_stats().rseq ? "on" : "off");
  return 0;
}
