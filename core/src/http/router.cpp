// SPDX-License-Identifier: Apache-2.0
#include "canary/http/router.hpp"

#include "canary/http/server.hpp"

namespace canary::http {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return segments;
}

bool is_capture(std::string_view segment) { return segment.size() > 2 && segment.front() == '{' && segment.back() == '}'; }

}  // namespace

Router& Router::add(std::string method, std::string_view path_template, Route route) {
  Entry e{std::move(method), {}, std::move(route)};
  for (std::string_view s : split_path(path_template)) e.segments.emplace_back(s);
  entries_.push_back(std::move(e));
  return *this;
}

Response Router::operator()(const Request& request) const {
  const auto segments = split_path(request.path);
  bool path_known = false;
  for (const Entry& e : entries_) {
    if (e.segments.size() != segments.size()) continue;
    Captures captures;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      if (is_capture(e.segments[i]))
        captures.emplace_back(segments[i]);
      else
        match = e.segments[i] == segments[i];
    }
    if (!match) continue;
    path_known = true;
    if (e.method == request.method) return e.route(request, captures);
  }
  if (path_known) return error_response(405, "method " + request.method + " is not allowed on " + request.path);
  return error_response(404, "no such resource: " + request.method + " " + request.path);
}

}  // namespace canary::http
