// SPDX-License-Identifier: Apache-2.0
// The summary the aggregator publishes in the segment every interval (layout.hpp: SummaryData),
// read without tearing by anyone who maps the segment.
#pragma once

#include <cstdint>

#include "canary/layout.hpp"

namespace canary {

class Segment;

inline constexpr std::uint32_t kSummaryReadAttempts = 4;

// The aggregator's side: one writer, the holder of the aggregator lock.
void publish_summary(Segment& segment, SummaryData& next) noexcept;

// False when no summary was ever published or no complete, valid copy was found.
bool read_summary(const Segment& segment, SummaryData& out) noexcept;

}  // namespace canary
