// SPDX-License-Identifier: Apache-2.0
#include "canary/duration.hpp"

#include <charconv>

namespace canary {

std::optional<std::uint64_t> parse_duration_ms(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view unit = text.substr(digits);
  std::uint64_t value = 0;
  // At most 9 digits, so that value * a day's milliseconds cannot overflow.
  if (digits == 0 || digits > 9 || std::from_chars(text.data(), text.data() + digits, value).ec != std::errc())
    return std::nullopt;
  const std::uint64_t scale = unit == "ms" ? 1 : unit == "s" || unit.empty() ? 1000 : unit == "m" ? 60'000
                            : unit == "h"    ? 3'600'000
                            : unit == "d"    ? 86'400'000
                                             : 0;
  if (scale == 0) return std::nullopt;
  return value * scale;
}

}  // namespace canary
