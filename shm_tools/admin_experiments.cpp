// SPDX-License-Identifier: Apache-2.0
#include "admin_experiments.hpp"

#include <algorithm>
#include <optional>
#include <variant>

#include <nlohmann/json.hpp>

#include "admin_config.hpp"
#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/experiment/results.hpp"
#include "canary/experiment/tracker.hpp"
#include "canary/http/server.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"

namespace canary::tools {

namespace {

using nlohmann::json;
using http::Request;
using http::Response;
using http::Captures;

Response reply(int status, const json& body) { return {status, "application/json", body.dump(2) + "\n", {}}; }
Response refuse(const Status& s, const std::string& field) {
  const ApiError e = api_error_from(s, field);
  const bool unknown = s.message().rfind("no experiment named", 0) == 0;
  return http::error_response(unknown ? 404 : e.http_status, e.message, e.field);
}

// A field the route does not take is refused, naming it: a typo ("exposur") must not leave a
// default in force (an exposure of 100%) behind a 201.
std::optional<std::string> unknown_field(const json& j, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return key;
  return std::nullopt;
}

std::string field_list(std::initializer_list<std::string_view> allowed) {
  std::string out;
  for (std::string_view f : allowed) out += (out.empty() ? "" : ", ") + std::string(f);
  return out.empty() ? "none" : out;
}

// The JSON body of POST .../experiments as a spec, or why not (and which field).
Expected<experiment::ExperimentSpec> spec_from(const std::string& body, std::string& field) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status{Errc::invalid_argument, "the body must be a JSON object"};
  const std::initializer_list<std::string_view> kFields = {"name", "arms", "metrics", "endpoints", "exposure"};
  if (auto key = unknown_field(j, kFields)) {
    field = *key;
    return Status{Errc::invalid_argument, "unknown field '" + *key + "' (" + field_list(kFields) + ")"};
  }
  experiment::ExperimentSpec spec;
  field = "name";
  if (!j.contains("name") || !j["name"].is_string()) return Status{Errc::invalid_argument, "'name' (a string) is required"};
  spec.name = j["name"].get<std::string>();
  field = "arms";
  if (!j.contains("arms") || !j["arms"].is_string())
    return Status{Errc::invalid_argument, "'arms' is required, as text: \"control:50,treatment:50\""};
  auto arms = experiment::parse_arms(j["arms"].get<std::string>());
  if (!arms) return arms.status();
  spec.arms = std::move(*arms);
  field = "metrics";
  if (j.contains("metrics")) {
    if (!j["metrics"].is_array()) return Status{Errc::invalid_argument, "'metrics' must be a list of \"NAME:KIND\""};
    for (const json& m : j["metrics"]) {
      if (!m.is_string()) return Status{Errc::invalid_argument, "'metrics' must be a list of \"NAME:KIND\""};
      auto metric = experiment::parse_metric(m.get<std::string>());
      if (!metric) return metric.status();
      spec.metrics.push_back(std::move(*metric));
    }
  }
  field = "endpoints";
  if (j.contains("endpoints")) {
    if (!j["endpoints"].is_array()) return Status{Errc::invalid_argument, "'endpoints' must be a list of templates"};
    for (const json& e : j["endpoints"]) {
      if (!e.is_string()) return Status{Errc::invalid_argument, "'endpoints' must be a list of templates"};
      spec.endpoints.push_back(e.get<std::string>());
    }
  }
  field = "exposure";
  if (j.contains("exposure")) {
    if (!j["exposure"].is_string() && !j["exposure"].is_number())
      return Status{Errc::invalid_argument, "'exposure' is a percentage, such as \"50\""};
    auto bp = parse_share_percent(j["exposure"].is_string() ? j["exposure"].get<std::string>() : j["exposure"].dump());
    if (!bp) return Status{Errc::invalid_argument, "exposure: " + bp.status().message()};
    spec.exposure_bp = *bp;
  }
  field.clear();
  return spec;
}

// The body of an experiment command: none, or an object of the string fields it takes (and no
// other). The fields, or the 400 that names the one at fault.
std::variant<json, Response> command_body(const std::string& body, const std::string& action,
                                          std::initializer_list<std::string_view> allowed) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return http::error_response(400, "the body must be a JSON object");
  if (auto key = unknown_field(j, allowed))
    return http::error_response(400, "unknown field '" + *key + "' for " + action + " (" + field_list(allowed) + ")", *key);
  for (const auto& [key, value] : j.items())
    if (!value.is_string() || value.get<std::string>().size() > 180)
      return http::error_response(400, "'" + key + "' must be a string of at most 180 bytes", key);
  return j;
}

std::string string_field(const json& j, const char* key) { return j.contains(key) ? j[key].get<std::string>() : std::string(); }

}  // namespace

void add_experiment_routes(http::Router& r, Segment& segment, const std::function<http::Route(http::Route)>& mutating) {
  Segment* const seg = &segment;
  const auto show = [seg](const std::string& name, int status) {
    auto shown = experiment::show_json(*seg, name);
    return shown ? reply(status, *shown) : refuse(shown.status(), "name");
  };
  const auto edit = [seg](const Request& req, const std::function<Status(ConfigData&)>& change) {
    return update_config(*seg, "admin API " + req.method + " " + req.path + " from " + req.remote_addr, change);
  };

  r.add("GET", "/api/v2/admin/canary/experiments", [seg](const Request&, const Captures&) {
    auto list = experiment::list_json(*seg);
    return list ? reply(200, {{"experiments", *list}}) : refuse(list.status(), "");
  });
  r.add("GET", "/api/v2/admin/canary/experiments/{name}", [show](const Request&, const Captures& c) { return show(c[0], 200); });
  r.add("POST", "/api/v2/admin/canary/experiments", mutating([show, edit](const Request& req, const Captures&) {
    std::string field;
    auto spec = spec_from(req.body, field);
    if (!spec) return refuse(spec.status(), field);
    const Status s = edit(req, [&](ConfigData& c) { auto created = experiment::create(c, *spec, unix_now_ns());
      return created ? Status::Ok() : created.status(); });
    return s.ok() ? show(spec->name, 201) : refuse(s, "name");
  }));
  r.add("POST", "/api/v2/admin/canary/experiments/{name}/{action}", mutating([seg, show, edit](const Request& req, const Captures& c) {
    const std::string& name = c[0];
    const std::string& action = c[1];
    if (action != "start" && action != "stop" && action != "conclude")
      return http::error_response(404, "no such experiment command: " + action + " (start, stop, conclude)");
    auto parsed = action == "start"  ? command_body(req.body, action, {})
                  : action == "stop" ? command_body(req.body, action, {"reason"})
                                     : command_body(req.body, action, {"arm"});
    if (auto* refused = std::get_if<Response>(&parsed)) return *refused;
    const json fields = std::get<json>(std::move(parsed));
    std::function<Status(ConfigData&)> change;
    if (action == "start")
      change = [&](ConfigData& cfg) {
        std::uint64_t drops[kMaxExperiments];
        experiment::drops_from(*seg, drops);
        return experiment::start(cfg, name, unix_now_ns(), drops);
      };
    else if (action == "stop")
      change = [&](ConfigData& cfg) { return experiment::stop(cfg, name, string_field(fields, "reason"), unix_now_ns()); };
    else
      change = [&](ConfigData& cfg) { return experiment::conclude(cfg, name, string_field(fields, "arm"), unix_now_ns()); };
    const Status s = edit(req, change);
    return s.ok() ? show(name, 200) : refuse(s, action == "conclude" ? "arm" : "name");
  }));
  r.add("DELETE", "/api/v2/admin/canary/experiments/{name}", mutating([edit](const Request& req, const Captures& c) {
    const std::string name = c[0];
    const Status s = edit(req, [&](ConfigData& cfg) { return experiment::remove(cfg, name); });
    return s.ok() ? reply(200, {{"removed", name}}) : refuse(s, "name");
  }));
}

}  // namespace canary::tools
