// SPDX-License-Identifier: Apache-2.0
#include "canary/endpoint_template.hpp"

#include <algorithm>
#include <cstring>

#include "canary/fixed_text.hpp"

namespace canary {

namespace {

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

bool is_literal_char(char c) { return c > 0x20 && c < 0x7f && c != '{' && c != '}' && c != '?' && c != '#'; }

bool is_parameter(std::string_view segment) { return !segment.empty() && segment.front() == '{'; }

// Splits "/a/b/c" (leading slash already checked) into at most kMaxTemplateSegments views. Returns
// the count, or -1 when there are more segments than that.
int split_segments(std::string_view path, std::array<std::string_view, kMaxTemplateSegments>& out) {
  if (path.size() == 1) return 0;  // "/"
  int count = 0;
  std::size_t start = 1;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (count == static_cast<int>(kMaxTemplateSegments)) return -1;
    out[static_cast<std::size_t>(count++)] = path.substr(start, end - start);
    if (slash == std::string_view::npos) return count;
    start = slash + 1;
  }
}

const char* segment_problem(std::string_view s) noexcept {
  if (s.empty()) return "has an empty segment ('//')";
  // A server resolves dot segments before routing (RFC 3986 section 5.2.4): a template with one
  // would never match what the service sees, and "/../../etc/passwd" is no endpoint.
  if (s == "." || s == "..") return "has a '.' or '..' segment";
  if (is_parameter(s)) {
    if (s.size() < 3 || s.back() != '}') return "has a malformed {parameter} segment";
    const std::string_view name = s.substr(1, s.size() - 2);
    for (std::size_t i = 0; i < name.size(); ++i)
      if (!is_name_char(name[i], i == 0)) return "has a malformed {parameter} segment";
    return nullptr;
  }
  for (char c : s)
    if (!is_literal_char(c)) return "has a character that is not allowed in a template (space, '?', '#', '{', '}' or non-ASCII)";
  return nullptr;
}

}  // namespace

const char* template_problem(std::string_view normalized) noexcept {
  if (normalized.empty() || normalized.front() != '/') return "must start with '/'";
  if (normalized.size() > kMaxTemplateBytes) return "is too long";
  if (normalized.size() > 1 && normalized.back() == '/') return "ends with '/'";
  std::array<std::string_view, kMaxTemplateSegments> segments;
  const int count = split_segments(normalized, segments);
  if (count < 0) return "has more than 32 segments";
  for (int i = 0; i < count; ++i)
    if (const char* why = segment_problem(segments[static_cast<std::size_t>(i)])) return why;
  return nullptr;
}

Expected<std::string> normalize_template(std::string_view text) {
  if (text.empty()) return Status{Errc::invalid_argument, "endpoint path is empty"};
  if (text.size() > kMaxTemplateBytes)
    return Status{Errc::invalid_argument, "endpoint path is " + std::to_string(text.size()) +
                                              " bytes; the limit is " + std::to_string(kMaxTemplateBytes)};
  if (text.size() > 1 && text.back() == '/') text.remove_suffix(1);
  if (const char* why = template_problem(text))
    return Status{Errc::invalid_argument, std::string("endpoint path ") + why};
  return std::string(text);
}

std::string template_shape(std::string_view normalized) {
  std::string shape;
  shape.reserve(normalized.size());
  for (std::size_t i = 0; i < normalized.size(); ++i) {
    if (normalized[i] == '{') {
      shape += "{}";
      i = normalized.find('}', i);
      if (i == std::string_view::npos) break;
    } else {
      shape += normalized[i];
    }
  }
  return shape;
}

void TemplateMatcher::compile(const ConfigData& c) noexcept {
  std::uint32_t count = 0;
  std::uint32_t pool_used = 0;
  const std::uint32_t endpoints = std::min(c.endpoint_count, kMaxEndpoints);
  for (std::uint32_t id = 1; id < endpoints; ++id) {
    const EndpointEntry& e = c.endpoints[id];
    const std::string_view path = text_of(e.path);
    if (!e.registered || path.empty() || path.size() > kMaxTemplateBytes || path.front() != '/') continue;
    std::array<std::string_view, kMaxTemplateSegments> segments;
    const int n = split_segments(path, segments);
    if (n < 0) continue;
    Compiled t{};
    t.id = static_cast<EndpointId>(id);
    t.segment_count = static_cast<std::uint8_t>(n);
    bool valid = true;
    for (int i = 0; i < n && valid; ++i) {
      const std::string_view s = segments[static_cast<std::size_t>(i)];
      valid = segment_problem(s) == nullptr;
      if (!valid || is_parameter(s)) continue;
      t.precedence |= 1u << (31 - i);
      t.literal_offset[i] = static_cast<std::uint16_t>(pool_used);
      t.literal_length[i] = static_cast<std::uint8_t>(s.size());
      std::memcpy(literals_.data() + pool_used, s.data(), s.size());
      pool_used += static_cast<std::uint32_t>(s.size());
    }
    if (valid) templates_[count++] = t;
  }
  std::sort(templates_.begin(), templates_.begin() + count, [](const Compiled& a, const Compiled& b) {
    return a.segment_count != b.segment_count ? a.segment_count < b.segment_count : a.precedence > b.precedence;
  });
  // first_with_count_[n] .. first_with_count_[n + 1] are the templates with n segments.
  std::uint32_t t = 0;
  for (std::uint32_t n = 0; n < first_with_count_.size(); ++n) {
    while (t < count && templates_[t].segment_count < n) ++t;
    first_with_count_[n] = static_cast<std::uint8_t>(t);
  }
}

EndpointId TemplateMatcher::match(std::string_view path) const noexcept {
  // Cut at the query or fragment. A plain loop: find_first_of("?#") calls memchr per character.
  std::size_t end = 0;
  const std::size_t limit = std::min(path.size(), kMaxPathBytes + 1);
  while (end < limit && path[end] != '?' && path[end] != '#') ++end;
  if (end == 0 || end > kMaxPathBytes || path.front() != '/') return kOtherEndpoint;
  path = path.substr(0, end);
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::array<std::string_view, kMaxTemplateSegments> segments;
  const int n = split_segments(path, segments);
  if (n < 0) return kOtherEndpoint;
  const auto count = static_cast<std::size_t>(n);
  for (std::uint32_t t = first_with_count_[count]; t < first_with_count_[count + 1]; ++t) {
    const Compiled& c = templates_[t];
    bool matches = true;
    for (std::size_t i = 0; i < count && matches; ++i) {
      const std::string_view s = segments[i];
      const std::uint8_t length = c.literal_length[i];
      matches = length == 0 ? !s.empty()
                            : s.size() == length && std::memcmp(s.data(), literals_.data() + c.literal_offset[i], length) == 0;
    }
    if (matches) return c.id;
  }
  return kOtherEndpoint;
}

}  // namespace canary
