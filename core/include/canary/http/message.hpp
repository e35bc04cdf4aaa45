// SPDX-License-Identifier: Apache-2.0
// What the project's HTTP servers hand a handler and take back: plain strings, so that handlers
// need neither Boost.Beast's types nor its headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canary::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded, without the query
  Fields query;        // decoded name=value pairs, in order
  Fields headers;
  std::string body;
  std::string remote_addr;

  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
  bool has_param(std::string_view name) const;
  // The first query parameter of that name, or "".
  std::string param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Fields headers;
};

// "/a%20b?x=1&y=%2F" -> path "/a b", query {{"x","1"},{"y","/"}}. False when an escape is bad.
bool split_target(std::string_view target, std::string& path, Fields& query);

// Case-insensitive ASCII comparison (header names, the "Bearer" scheme).
bool iequals(std::string_view a, std::string_view b);

}  // namespace canary::http
