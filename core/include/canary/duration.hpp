// SPDX-License-Identifier: Apache-2.0
// Durations as people write them in a policy or on a command line: "500ms", "10s", "5m", "1h",
// "2d", or a bare number of seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace canary {

// Milliseconds; nullopt for anything else (a sign, a point, an unknown unit, over 9 digits).
std::optional<std::uint64_t> parse_duration_ms(std::string_view text);

}  // namespace canary
