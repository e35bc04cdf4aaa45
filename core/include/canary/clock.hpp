// SPDX-License-Identifier: Apache-2.0
// The two clocks the project uses: wall time for what people read (change times, heartbeats),
// CLOCK_MONOTONIC milliseconds for intervals and the coarse clock stamped on ring records.
#pragma once

#include <cstdint>
#include <string>

namespace canary {

std::uint64_t unix_now_ns();
std::uint64_t monotonic_ms();

// A wall time as people read it in status lines and JSON: "2026-11-27T09:18:26Z" (UTC, seconds).
std::string utc_text(std::uint64_t unix_ns);

}  // namespace canary
