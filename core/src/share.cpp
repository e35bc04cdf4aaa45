// SPDX-License-Identifier: Apache-2.0
#include "canary/share.hpp"

#include <charconv>

namespace canary {

namespace {

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}

}  // namespace

Expected<std::uint32_t> parse_share_percent(std::string_view text) {
  std::string shown(1, '\'');
  shown.append(text.substr(0, 40)).append(text.size() > 40 ? "...'" : "'");
  if (text.empty()) return Status{Errc::invalid_argument, "canary percentage is empty"};
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction)))
    return Status{Errc::invalid_argument,
                  "canary percentage " + shown + " is not a number like 5 or 12.5 (0 to 100, at most two decimals)"};
  if (fraction.size() > 2)
    return Status{Errc::invalid_argument, "canary percentage " + shown + " has more than two decimals"};
  if (whole.size() > 3)
    return Status{Errc::invalid_argument, "canary percentage " + shown + " is above 100"};
  std::uint32_t percent = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), percent);
  std::uint32_t hundredths = 0;
  for (std::size_t i = 0; i < 2; ++i)
    hundredths = hundredths * 10 + (i < fraction.size() ? static_cast<std::uint32_t>(fraction[i] - '0') : 0);
  const std::uint32_t bp = percent * 100 + hundredths;
  if (bp > 10000) return Status{Errc::invalid_argument, "canary percentage " + shown + " is above 100"};
  return bp;
}

std::string format_share_percent(std::uint32_t share_bp) {
  std::string s = std::to_string(share_bp / 100);
  const std::uint32_t hundredths = share_bp % 100;
  if (hundredths != 0) {
    s += '.';
    s += static_cast<char>('0' + hundredths / 10);
    if (hundredths % 10 != 0) s += static_cast<char>('0' + hundredths % 10);
  }
  return s;
}

Expected<std::uint64_t> parse_u64(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!all_digits(text) || ec != std::errc() || end != text.data() + text.size())
    return Status{Errc::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, 40)) +
                                              "' is not a whole number from 0 to 18446744073709551615"};
  return value;
}

}  // namespace canary
