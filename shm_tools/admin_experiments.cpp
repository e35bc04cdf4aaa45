// SPDX-License-Identifier: Apache-2.0
#include "admin_experiments.hpp"

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

// The JSON body of POST .../experiments as a spec, or why not (and which field).
Expected<experiment::ExperimentSpec> spec_from(const std::string& body, std::string& field) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status{Errc::invalid_argument, "the body must be a JSON object"};
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

std::string optional_string(const std::string& body, const char* key) {
  const json j = json::parse(body, nullptr, false);
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

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
    std::function<Status(ConfigData&)> change;
    if (action == "start")
      change = [&](ConfigData& cfg) {
        std::uint64_t drops[kMaxExperiments];
        experiment::drops_from(*seg, drops);
        return experiment::start(cfg, name, unix_now_ns(), drops);
      };
    else if (action == "stop")
      change = [&](ConfigData& cfg) { return experiment::stop(cfg, name, optional_string(req.body, "reason"), unix_now_ns()); };
    else if (action == "conclude")
      change = [&](ConfigData& cfg) { return experiment::conclude(cfg, name, optional_string(req.body, "arm"), unix_now_ns()); };
    else return http::error_response(404, "no such experiment command: " + action + " (start, stop, conclude)");
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
