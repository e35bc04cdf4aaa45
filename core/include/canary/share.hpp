// SPDX-License-Identifier: Apache-2.0
// The canary share: typed by people as a percentage with at most two decimals, stored as integer
// basis points (0..10000) so that "5.25%" means exactly 525 buckets of 10000.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "canary/status.hpp"

namespace canary {

// Accepts "5", "5.2", "5.25", "100", "100.00"; refuses signs, exponents, nan, spaces, a third
// decimal and anything above 100, each with a message that names the problem.
Expected<std::uint32_t> parse_share_percent(std::string_view text);

// The shortest exact decimal: 500 -> "5", 525 -> "5.25", 1250 -> "12.5".
std::string format_share_percent(std::uint32_t share_bp);

// Strict decimal parsing for integers given on command lines (CLI11 would take hex and more).
Expected<std::uint64_t> parse_u64(std::string_view text, std::string_view what);

}  // namespace canary
