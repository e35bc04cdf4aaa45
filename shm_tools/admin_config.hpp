// SPDX-License-Identifier: Apache-2.0
// The admin API's config changes: a JSON body checked field by field, then applied as one
// update_config(), so a request either changes everything it names or nothing.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "canary/config.hpp"
#include "canary/deployment.hpp"
#include "canary/status.hpp"

namespace canary::tools {

// An error an HTTP client gets: status code, message, and the field it is about (may be empty).
struct ApiError {
  int http_status;
  std::string message;
  std::string field;
};

// PUT /api/v2/admin/canary/config with any of enabled, canary_percentage, endpoints_to_canary,
// checked and ready to apply inside update_config().
class ConfigUpdate {
 public:
  Status apply(ConfigData& c, EventDraft& event);
  // After apply() failed: the field the refusal was about.
  const std::string& failed_field() const { return failed_field_; }

 private:
  friend std::variant<ConfigUpdate, ApiError> parse_config_update(const std::string&, std::uint32_t);
  std::optional<bool> enabled_;
  std::optional<std::uint32_t> share_bp_;
  std::optional<std::vector<std::string>> endpoints_;
  struct VersionPatch {  // an entry of "versions": a candidate's share and endpoints
    std::string name;
    std::optional<std::uint32_t> share_bp;
    std::optional<std::vector<std::string>> endpoints;
  };
  std::vector<VersionPatch> versions_;
  std::uint32_t endpoint_capacity_ = 0;
  std::string failed_field_;
};

std::variant<ConfigUpdate, ApiError> parse_config_update(const std::string& body, std::uint32_t endpoint_capacity);

// The body of POST /api/v2/admin/canary/{start,promote,rollback,pause,resume,approve}, all fields
// optional: "reason" for every command, "share" and "salt" for start, "force" for promote.
struct CommandRequest {
  std::string reason;
  StartOptions start;
  bool force = false;
  std::string version;  // "version": the candidate it acts on (optional with one candidate)
  // POST .../versions {"name", "share"}; POST .../switch {"to"} or {"back": true}.
  std::string name, to;
  std::string baseline;  // start: the version to judge against (SPEC section 10)
  std::uint32_t share_bp = 0;
  bool back = false;
};
std::variant<CommandRequest, ApiError> parse_command_body(const std::string& command, const std::string& body);

// {"path": "/api/v2/..."} for POST and DELETE /api/v2/admin/canary/config/endpoints.
std::variant<std::string, ApiError> parse_endpoint_body(const std::string& body);

// What an update_config() failure becomes over HTTP: 409 for refusals, 404 for unknown
// endpoints, 400 for invalid values, 503 when the config lock is busy, 500 otherwise.
ApiError api_error_from(const Status& s, std::string field);

}  // namespace canary::tools
