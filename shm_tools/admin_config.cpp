#include "admin_config.hpp"

#include <cmath>
#include <set>
#include <variant>

#include "canary/config_edit.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"

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

}  // namespace

std::variant<ConfigUpdate, ApiError> parse_config_update(const std::string& body, std::uint32_t endpoint_capacity) {
  auto object = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&object)) return *e;
  const json& o = std::get<json>(object);
  for (const auto& [key, value] : o.items()) {
    if (key != "enabled" && key != "canary_percentage" && key != "endpoints_to_canary")
      return ApiError{400, "unknown field '" + key + "' (enabled, canary_percentage, endpoints_to_canary)", key};
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
    const json& list = o["endpoints_to_canary"];
    if (!list.is_array()) return ApiError{400, "endpoints_to_canary must be a list of paths", "endpoints_to_canary"};
    update.endpoints_.emplace();
    for (const json& item : list) {
      if (!item.is_string()) return ApiError{400, "endpoints_to_canary must hold strings", "endpoints_to_canary"};
      auto normalized = normalize_template(item.get<std::string>());
      if (!normalized) return ApiError{400, normalized.status().message(), "endpoints_to_canary"};
      update.endpoints_->push_back(*normalized);
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
    // Exactly these templates get the canary: register the new ones, turn the rest off.
    std::set<std::string> wanted;
    for (const std::string& path : *endpoints_) {
      if (Status s = add_endpoint(c, path, endpoint_capacity_); !s.ok()) {
        failed_field_ = "endpoints_to_canary";
        return s;
      }
      wanted.insert(template_shape(path));
    }
    for (std::uint32_t id = 1; id < c.endpoint_count; ++id)
      c.endpoints[id].canary = wanted.count(template_shape(text_of(c.endpoints[id].path))) ? 1 : 0;
  }
  return Status::Ok();
}

std::variant<CommandRequest, ApiError> parse_command_body(const std::string& command, const std::string& body) {
  CommandRequest r;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return r;  // no body: every default
  auto object = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&object)) return *e;
  const json& o = std::get<json>(object);
  for (const auto& [key, value] : o.items()) {
    const bool known = key == "reason" || (command == "start" && (key == "share" || key == "salt")) ||
                       (command == "promote" && key == "force");
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
