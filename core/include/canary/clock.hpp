// The two clocks the project uses: wall time for what people read (change times, heartbeats),
// CLOCK_MONOTONIC milliseconds for intervals and the coarse clock stamped on ring records.
#pragma once

#include <cstdint>

namespace canary {

std::uint64_t unix_now_ns();
std::uint64_t monotonic_ms();

}  // namespace canary
