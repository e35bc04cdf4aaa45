// SPDX-License-Identifier: Apache-2.0
#include "admin_config.hpp"

#include <cmath>
#include <set>
#include <variant>

#include "canary/config_edit.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/fixed_text.hpp"
#include "canary/deployment.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary::tools {

namespace {

using nlohmann::json;

std::variant<json, ApiError> parse_object(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return ApiError{400, "the body is not valid JSON", ""};
  if (!parsed.is_object()) return ApiError{400, "the body must be a JSON object", ""};
  return parsed;
}

// A number with at most two decimals, or a string such as "12.5".
std::variant<std::uint32_t, ApiError> parse_share(const json& v) {
  if (v.is_string()) {
    auto bp = parse_share_percent(v.get<std::string>());
    if (!bp) return ApiError{400, bp.status().message(), "canary_percentage"};
    return *bp;
  }
  if (!v.is_number()) return ApiError{400, "canary_percentage must be a number from 0 to 100", "canary_percentage"};
  const double percent = v.get<double>();
  if (!std::isfinite(percent) || percent < 0 || percent > 100)
    return ApiError{400, "canary_percentage must be a number from 0 to 100", "canary_percentage"};
  const double hundredths = percent * 100;
  const double rounded = std::round(hundredths);
  if (std::abs(hundredths - rounded) > 1e-6)
    return ApiError{400, "canary_percentage has more than two decimals", "canary_percentage"};
  return static_cast<std::uint32_t>(rounded);
}

std::variant<std::vector<std::string>, ApiError> parse_templates(const json& list, const std::string& field) {
  if (!list.is_array()) return ApiError{400, field + " must be a list of paths", field};
  std::vector<std::string> out;
  for (const json& item : list) {
    if (!item.is_string()) return ApiError{400, field + " must hold strings", field};
    auto normalized = normalize_template(item.get<std::string>());
    if (!normalized) return ApiError{400, normalized.status().message(), field};
    out.push_back(*normalized);
  }
  return out;
}

// Exactly these templates on for the candidate: the new ones registered, the rest off.
Status set_candidate_endpoints(ConfigData& c, std::uint32_t candidate, const std::vector<std::string>& paths,
                               std::uint32_t capacity) {
  std::set<std::string> wanted;
  for (const std::string& path : paths) {
    if (Status s = add_endpoint(c, path, capacity, candidate); !s.ok()) return s;
    wanted.insert(template_shape(path));
  }
  for (std::uint32_t id = 1; id < c.endpoint_count; ++id)
    set_endpoint_on(c.versions[candidate], id, wanted.count(template_shape(text_of(c.endpoints[id].path))) != 0);
  return Status::Ok();
}

}  // namespace

std::variant<ConfigUpdate, ApiError> parse_config_update(const std::string& body, std::uint32_t endpoint_capacity) {
  auto object = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&object)) return *e;
  const json& o = std::get<json>(object);
  for (const auto& [key, value] : o.items()) {
    if (key != "enabled" && key != "canary_percentage" && key != "endpoints_to_canary" && key != "versions")
      return ApiError{400, "unknown field '" + key + "' (enabled, canary_percentage, endpoints_to_canary, versions)", key};
  }
  if (o.empty()) return ApiError{400, "the body names no field to change", ""};

  ConfigUpdate update;
  update.endpoint_capacity_ = endpoint_capacity;
  if (o.contains("enabled")) {
    if (!o["enabled"].is_boolean()) return ApiError{400, "enabled must be true or false", "enabled"};
    update.enabled_ = o["enabled"].get<bool>();
  }
  if (o.contains("canary_percentage")) {
    auto parsed = parse_share(o["canary_percentage"]);
    if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
    update.share_bp_ = std::get<std::uint32_t>(parsed);
  }
  if (o.contains("endpoints_to_canary")) {
    auto list = parse_templates(o["endpoints_to_canary"], "endpoints_to_canary");
    if (auto* e = std::get_if<ApiError>(&list)) return *e;
    update.endpoints_ = std::get<std::vector<std::string>>(std::move(list));
  }
  if (o.contains("versions")) {
    const json& list = o["versions"];
    if (!list.is_array()) return ApiError{400, "versions must be a list of {\"name\", \"share\", \"endpoints\"}", "versions"};
    for (const json& item : list) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string())
        return ApiError{400, "each entry of versions needs a \"name\"", "versions"};
      ConfigUpdate::VersionPatch patch;
      patch.name = item["name"].get<std::string>();
      for (const auto& [key, value] : item.items()) {
        if (key == "name" || key == "state" || key == "role" || key == "state_reason" || key == "srm_detected" ||
            key == "awaiting_approval")
          continue;  // what GET shows and a PUT may send back unchanged; states change by command only
        if (key == "share") {
          auto parsed = parse_share(value);
          if (auto* e = std::get_if<ApiError>(&parsed)) return ApiError{e->http_status, e->message, "versions"};
          patch.share_bp = std::get<std::uint32_t>(parsed);
        } else if (key == "endpoints") {
          auto templates = parse_templates(value, "versions");
          if (auto* e = std::get_if<ApiError>(&templates)) return *e;
          patch.endpoints = std::get<std::vector<std::string>>(std::move(templates));
        } else {
          return ApiError{400, "unknown field '" + key + "' in versions (name, share, endpoints)", "versions"};
        }
      }
      update.versions_.push_back(std::move(patch));
    }
  }
  return update;
}

Status ConfigUpdate::apply(ConfigData& c, EventDraft& event) {
  if (enabled_) {
    if (Status s = set_enabled(c, *enabled_); !s.ok()) {
      failed_field_ = "enabled";
      return s;
    }
  }
  if (share_bp_) {
    if (Status s = set_share_by_hand(c, *share_bp_, event); !s.ok()) {
      failed_field_ = "canary_percentage";
      return s;
    }
  }
  if (endpoints_) {
    // The two-version field: exactly these templates go to the first candidate.
    if (Status s = set_candidate_endpoints(c, kFirstCandidate, *endpoints_, endpoint_capacity_); !s.ok()) {
      failed_field_ = "endpoints_to_canary";
      return s;
    }
  }
  failed_field_ = "versions";
  for (const VersionPatch& patch : versions_) {
    auto k = pick_candidate(c, patch.name);
    if (!k) return k.status();
    if (patch.share_bp) {
      if (Status s = set_share_by_hand(c, *patch.share_bp, event, *k); !s.ok()) return s;
    }
    if (patch.endpoints) {
      if (Status s = set_candidate_endpoints(c, *k, *patch.endpoints, endpoint_capacity_); !s.ok()) return s;
    }
  }
  failed_field_.clear();
  return Status::Ok();
}

std::variant<CommandRequest, ApiError> parse_command_body(const std::string& command, const std::string& body) {
  CommandRequest r;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return r;  // no body: every default
  auto object = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&object)) return *e;
  const json& o = std::get<json>(object);
  for (const auto& [key, value] : o.items()) {
    const bool known = (command != "versions" && command != "switch" && (key == "reason" || key == "version")) ||
                       (command == "start" && (key == "share" || key == "salt" || key == "baseline")) ||
                       (command == "promote" && key == "force") ||
                       (command == "versions" && (key == "name" || key == "share")) ||
                       (command == "switch" && (key == "to" || key == "back" || key == "reason"));
    if (!known) return ApiError{400, "unknown field '" + key + "' for " + command, key};
  }
  if (o.contains("reason")) {
    if (!o["reason"].is_string() || o["reason"].get<std::string>().size() > 180)
      return ApiError{400, "reason must be a string of at most 180 bytes", "reason"};
    r.reason = o["reason"].get<std::string>();
  }
  if (o.contains("share")) {
    auto parsed = parse_share(o["share"]);
    if (auto* e = std::get_if<ApiError>(&parsed)) return ApiError{e->http_status, e->message, "share"};
    r.start.share_bp = std::get<std::uint32_t>(parsed);
  }
  if (o.contains("salt")) {
    if (!o["salt"].is_number_unsigned()) return ApiError{400, "salt must be a whole number from 0 to 2^64-1", "salt"};
    r.start.salt = o["salt"].get<std::uint64_t>();
  }
  for (auto [key, field] : {std::pair{"version", &r.version}, {"name", &r.name}, {"to", &r.to}, {"baseline", &r.baseline}}) {
    if (!o.contains(key)) continue;
    if (!o[key].is_string() || o[key].get<std::string>().size() > kMaxVersionNameBytes)
      return ApiError{400, std::string(key) + " must be a version name", key};
    *field = o[key].get<std::string>();
  }
  if (command == "versions") {
    if (r.name.empty()) return ApiError{400, "name is required", "name"};
    if (r.start.share_bp) r.share_bp = *r.start.share_bp;
  }
  if (o.contains("back")) {
    if (!o["back"].is_boolean()) return ApiError{400, "back must be true or false", "back"};
    r.back = o["back"].get<bool>();
  }
  if (command == "switch" && (r.back ? !r.to.empty() : r.to.empty()))
    return ApiError{400, "switch takes {\"to\": NAME} or {\"back\": true}", "to"};
  if (o.contains("force")) {
    if (!o["force"].is_boolean()) return ApiError{400, "force must be true or false", "force"};
    r.force = o["force"].get<bool>();
  }
  return r;
}

std::variant<std::string, ApiError> parse_endpoint_body(const std::string& body) {
  auto object = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&object)) return *e;
  const json& o = std::get<json>(object);
  for (const auto& [key, value] : o.items())
    if (key != "path") return ApiError{400, "unknown field '" + key + "' (only path)", key};
  if (!o.contains("path") || !o["path"].is_string()) return ApiError{400, "path must be a string", "path"};
  return o["path"].get<std::string>();
}

ApiError api_error_from(const Status& s, std::string field) {
  switch (s.code()) {
    case Errc::refused:
      return {409, s.message(), std::move(field)};
    case Errc::invalid_argument:
      return {s.message().rfind("unknown endpoint", 0) == 0 ? 404 : 400, s.message(), std::move(field)};
    case Errc::busy:
      return {503, s.message(), ""};
    default:
      return {500, s.message(), ""};
  }
}

}  // namespace canary::tools
