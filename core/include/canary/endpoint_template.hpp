// SPDX-License-Identifier: Apache-2.0
// Endpoint templates ("/api/v2/conversations/{session_id}/turn") and the matcher that maps a raw
// request path to an endpoint id. The matcher is compiled once per config generation into fixed
// arrays, so matching allocates nothing and its work is bounded by kMaxPathBytes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "canary/layout.hpp"
#include "canary/status.hpp"
#include "canary/types.hpp"

namespace canary {

// Longer request paths (query string excluded) are not matched: they count as `other`.
inline constexpr std::size_t kMaxPathBytes = 4096;

// nullptr when `normalized` is a valid template without a trailing slash; otherwise what is wrong,
// as a static string (the worker's refresh path validates without allocating).
const char* template_problem(std::string_view normalized) noexcept;

// Validates a template and returns it without its trailing slash. Errors name the problem.
Expected<std::string> normalize_template(std::string_view text);

// The template with every parameter name erased ("/a/{}/b"): templates that differ only in
// parameter names are the same endpoint.
std::string template_shape(std::string_view normalized);

class TemplateMatcher {
 public:
  // Compiles the registered templates of `c` (ids 1..endpoint_count-1). Templates that fail
  // validation, which only a corrupt segment can hold, are left out.
  void compile(const ConfigData& c) noexcept;

  // The endpoint whose template matches `path`, preferring literal segments over parameters from
  // the left; kOtherEndpoint when none does. The query string is ignored, and so is one trailing
  // slash.
  EndpointId match(std::string_view path) const noexcept;

 private:
  struct Compiled {
    EndpointId id;
    std::uint8_t segment_count;
    std::uint32_t precedence;  // bit (31 - i) set when segment i is literal: higher wins
    std::uint16_t literal_offset[kMaxTemplateSegments];
    std::uint8_t literal_length[kMaxTemplateSegments];  // 0: a parameter
  };

  std::array<Compiled, kMaxEndpoints> templates_{};  // ordered by segment count, then precedence
  std::array<std::uint8_t, kMaxTemplateSegments + 2> first_with_count_{};
  std::array<char, kMaxEndpoints * kMaxTemplateBytes> literals_{};
};

}  // namespace canary
