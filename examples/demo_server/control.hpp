// SPDX-License-Identifier: Apache-2.0
// The demo's runtime switches, shared by the master and every worker: an anonymous shared mapping
// made before the workers are forked. POST /demo/control changes them for all workers at once.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstdint>

namespace canary::demo {

// Bounds of the flags and of POST /demo/control: a request sleeps work_us plus the extra latency.
inline constexpr std::uint32_t kMaxExtraLatencyMs = 60'000;
inline constexpr std::uint32_t kMaxWorkUs = 10'000'000;

// Every access is relaxed: the switches are independent of each other and of any other memory,
// and a worker that sees a change one request late is as good as one that sees it at once.
struct Control {
  std::atomic<std::uint32_t> canary_error_ppm{0};          // canary requests failing, per million
  std::atomic<std::uint32_t> canary_crash_ppm{0};          // canary requests that abort() their worker
  std::atomic<std::uint32_t> canary_extra_latency_ms{0};   // added to every canary request
  std::atomic<std::uint32_t> recording{1};                 // 0: skip record() (the overhead test)
  std::atomic<std::uint32_t> work_us{0};                   // simulated work of every request
  // Simulated users of /api/v2/recommend/personalized who click, per million, by experiment arm
  // (control first): each click is a `clicks` event of the experiment (docs/experiments.md).
  std::atomic<std::uint32_t> click_ppm[8] = {};
};

// nullptr when the kernel refuses the mapping.
inline Control* make_shared_control() {
  void* p = mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) Control();
}

}  // namespace canary::demo
