// SPDX-License-Identifier: Apache-2.0
// Dispatch by method and path template: "/api/v2/admin/canary/{command}" matches a path of the
// same number of segments, literal segments equal, each {name} any non-empty segment, which the
// handler receives in order. Routes are tried in the order they were added, so a literal route
// added first beats a template. An unknown path is a 404, a known path with another method a 405,
// both with a JSON error that names them.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/http/message.hpp"

namespace canary::http {

using Captures = std::vector<std::string>;
using Route = std::function<Response(const Request&, const Captures&)>;

class Router {
 public:
  Router& add(std::string method, std::string_view path_template, Route route);
  Response operator()(const Request& request) const;

 private:
  struct Entry {
    std::string method;
    std::vector<std::string> segments;  // "{...}" for a capture
    Route route;
  };
  std::vector<Entry> entries_;
};

}  // namespace canary::http
