// SPDX-License-Identifier: Apache-2.0
// Text fields of the segment are fixed char arrays, NUL-padded. Readers never trust the NUL.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace canary {

template <std::size_t N>
std::string_view text_of(const char (&field)[N]) {
  return {field, static_cast<std::size_t>(std::find(field, field + N, '\0') - field)};
}

// Keeps at most N - 1 bytes, so the field always ends with a NUL.
template <std::size_t N>
void set_text(char (&field)[N], std::string_view text) {
  const std::size_t n = std::min(text.size(), N - 1);
  std::memset(field, 0, N);
  std::memcpy(field, text.data(), n);
}

}  // namespace canary
