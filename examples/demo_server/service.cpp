// SPDX-License-Identifier: Apache-2.0
#include "service.hpp"

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "canary/http/server.hpp"
#include "canary/report/seed_json.hpp"
#include "canary/config.hpp"
#include "canary/segment.hpp"
#include "canary/summary.hpp"
#include "canary/window_series.hpp"
#include "canary/writer.hpp"

namespace canary::demo {

namespace {

using nlohmann::json;
using http::Captures;
using http::Request;
using http::Response;

// The user a request is for ("user_id" in the JSON body, or the query string for GET), or why
// there is none: the error names the problem in one line.
struct UserOrError {
  std::string user;
  std::string error;
};

UserOrError user_of(const Request& req) {
  std::string user;
  if (req.has_param("user_id")) {
    user = req.param("user_id");
  } else {
    const json body = json::parse(req.body, nullptr, false);
    if (req.body.empty() || (body.is_object() && !body.contains("user_id")))
      return {"", "user_id is required: in the JSON body, or as a query parameter"};
    if (!body.is_object()) return {"", "the body is not a JSON object (expected {\"user_id\": \"...\"})"};
    if (!body["user_id"].is_string()) return {"", "user_id must be a string"};
    user = body["user_id"];
  }
  if (user.empty()) return {"", "user_id is empty"};
  if (user.size() > kMaxUserIdBytes)
    return {"", "user_id is " + std::to_string(user.size()) + " bytes, at most " + std::to_string(kMaxUserIdBytes) + " are allowed"};
  return {user, ""};
}

std::string random_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(rng()));
  return text;
}

// What each endpoint answers; the canary's answers differ the way a new version's would.
json answer(const std::string& endpoint, Version v, const Captures& captures) {
  const bool canary = v == Version::canary;
  const std::string session = captures.empty() ? "" : captures[0];
  if (endpoint == "/api/v2/recommend/personalized")
    return {{"algorithm", canary ? "hybrid-ranker-v4" : "collaborative-filtering-v3"},
            {"recommendations", {{{"id", "item-17"}, {"score", canary ? 0.93 : 0.91}}, {{"id", "item-4"}, {"score", 0.87}}}}};
  if (endpoint == "/api/v2/recommend/compare")
    return {{"winner", canary ? "item-17" : "item-4"}, {"explanation", canary ? "ranked by the v4 model" : "ranked by popularity"}};
  if (endpoint == "/api/v2/conversations/start") return {{"session_id", random_id()}, {"greeting", "Hello!"}};
  if (endpoint == "/api/v2/conversations/{session_id}/turn")
    return {{"session_id", session}, {"reply", canary ? "Here is a better answer." : "Here is an answer."}};
  if (endpoint == "/api/v2/conversations/{session_id}/close") return {{"session_id", session}, {"closed", true}};
  if (endpoint == "/api/v2/conversations/{session_id}") return {{"session_id", session}, {"turns", 3}};
  return {{"sessions", json::array()}};
}

// "legacy or canary", or every configured name, for an error message.
std::string known_versions() {
  std::string names;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    const std::string_view name = version_name(static_cast<Version>(v));
    if (!name.empty()) names += (names.empty() ? "" : " or ") + std::string(name);
  }
  return names.empty() ? "legacy or canary" : names;
}

// The personalized recommendations under every running experiment: the user's arm is exposed and,
// as the demo's simulated users do, a click recorded with the arm's rate (--click-rates) when the
// experiment declares a `clicks` metric. The arms are returned for people to see.
json run_experiments(const std::string& user, Control& control, std::mt19937& rng) {
  json arms = json::object();
  for (ExperimentId x = 0; x < kMaxExperiments; ++x) {
    const Assignment a = arm(x, user);
    if (!a.in_experiment) continue;
    expose(a);
    arms[std::string(experiment_name(x))] = std::string(arm_name(x, a.arm));
    const auto clicks = find_metric(x, "clicks");
    const std::uint32_t ppm = control.click_ppm[a.arm].load(std::memory_order_relaxed);
    if (clicks && ppm != 0 && rng() % 1'000'000 < ppm) record_event(a, *clicks, 1.0);
  }
  return arms;
}

Response serve(const std::string& endpoint, Control& control, const Request& req, const Captures& captures) {
  const UserOrError user = user_of(req);
  Decision decision = route(user.user, std::string_view(req.path));
  // For manual tests: force a version, whatever the buckets say.
  const std::string forced = req.header("X-Canary-Version");
  const std::optional<Version> forced_version = forced.empty() ? std::nullopt : find_version(forced);
  if (forced_version) decision.version = *forced_version;
  const std::string error =
      !user.error.empty() ? user.error
      : (!forced.empty() && !forced_version) ? "X-Canary-Version must be " + known_versions() + ", not '" + forced + "'"
                                             : "";
  const bool canary = decision.version != Version::legacy;  // any candidate runs the new code

  std::optional<ScopedRequest> timing;
  if (control.recording.load(std::memory_order_relaxed)) timing.emplace(decision, parse_method(req.method));

  // A canary that crashes its worker: the request is in flight (marked by ScopedRequest) and is
  // never recorded; the aggregator counts it as unavailable when it finds the worker dead.
  thread_local std::mt19937 rng(std::random_device{}());
  const std::uint32_t crash_ppm = canary ? control.canary_crash_ppm.load(std::memory_order_relaxed) : 0;
  if (crash_ppm != 0 && rng() % 1'000'000 < crash_ppm) std::abort();

  const std::uint32_t work_us = control.work_us.load(std::memory_order_relaxed);
  const std::uint32_t extra_ms = canary ? control.canary_extra_latency_ms.load(std::memory_order_relaxed) : 0;
  if (work_us + extra_ms * 1000 > 0) std::this_thread::sleep_for(std::chrono::microseconds(work_us + extra_ms * 1000));

  const std::uint32_t error_ppm = canary ? control.canary_error_ppm.load(std::memory_order_relaxed) : 0;
  json body;
  Response res;
  if (!error.empty()) {
    res.status = 400;
    body = {{"error", error}};
  } else if (error_ppm != 0 && rng() % 1'000'000 < error_ppm) {
    res.status = 500;
    body = {{"error", "injected canary regression"}};
  } else {
    res.status = 200;
    body = answer(endpoint, decision.version, captures);
    if (endpoint == "/api/v2/recommend/personalized" && !user.user.empty()) {
      json experiments = run_experiments(user.user, control, rng);
      if (!experiments.empty()) body["experiments"] = std::move(experiments);
    }
  }
  const std::string_view named = version_name(decision.version);
  const std::string shown(named.empty() ? to_string(decision.version) : named);  // unattached: "legacy"
  body["version"] = shown;
  body["endpoint"] = endpoint;
  res.headers.emplace_back("X-Canary-Version", shown);
  res.body = body.dump() + "\n";
  if (timing) timing->set_status(static_cast<std::uint32_t>(res.status));
  return res;
}

// Why a POST /demo/control body is refused, or empty when every field it has is in range. The
// bounds keep a typo from stalling every worker (a request sleeps work_us + the extra latency).
std::string control_error(const json& b) {
  if (!b.is_object()) return "the body is not a JSON object";
  for (const auto& [key, value] : b.items()) {
    if (key == "canary_error_rate" || key == "canary_crash_rate") {
      if (!value.is_number() || value < 0 || value > 1) return key + " must be a number from 0 to 1";
    } else if (key == "canary_extra_latency_ms") {
      if (!value.is_number_unsigned() || value > kMaxExtraLatencyMs)
        return "canary_extra_latency_ms must be a whole number from 0 to " + std::to_string(kMaxExtraLatencyMs);
    } else if (key == "work_us") {
      if (!value.is_number_unsigned() || value > kMaxWorkUs)
        return "work_us must be a whole number from 0 to " + std::to_string(kMaxWorkUs);
    } else if (key == "recording") {
      if (!value.is_boolean()) return "recording must be true or false";
    } else {
      return "unknown field '" + key +
             "' (expected canary_error_rate, canary_crash_rate, canary_extra_latency_ms, recording, work_us)";
    }
  }
  return "";
}

}  // namespace

http::Router make_routes(Control& control, const std::string& segment_name) {
  http::Router r;
  // Most specific first: a literal segment ("start") beats a {session_id}.
  static const char* const endpoints[] = {
      "/api/v2/recommend/personalized",          "/api/v2/recommend/compare",
      "/api/v2/conversations/start",             "/api/v2/conversations/{session_id}/turn",
      "/api/v2/conversations/{session_id}/close", "/api/v2/conversations/{session_id}",
      "/api/v2/conversations",
  };
  for (const char* e : endpoints) {
    auto handler = [&control, name = std::string(e)](const Request& req, const Captures& c) {
      return serve(name, control, req, c);
    };
    r.add("GET", e, handler);
    r.add("POST", e, handler);
  }

  // The seed's admin URL, answered from the summary the aggregator publishes in the segment. It
  // attaches per request: the segment may be recreated (canary-ctl init --force) while we run.
  r.add("GET", "/api/v2/admin/canary/metrics", [segment_name](const Request& req, const Captures&) {
    const std::optional<Window> window = req.has_param("window") ? parse_window(req.param("window")) : Window::all;
    if (!window) return http::error_response(400, "window must be one of 5m, 1h, 6h, 24h, all", "window");
    const std::optional<json> body = report::published_metrics_json(segment_name, *window);
    if (!body) return http::error_response(503, "no aggregator has published a summary in the segment yet");
    return Response{200, "application/json", body->dump(2) + "\n", {}};
  });

  // The demo's switches: a canary regression, recording on or off, simulated work.
  r.add("GET", "/demo/control", [&control](const Request&, const Captures&) {
    const json body = {{"canary_error_rate", control.canary_error_ppm.load() / 1e6},
                       {"canary_crash_rate", control.canary_crash_ppm.load() / 1e6},
                       {"canary_extra_latency_ms", control.canary_extra_latency_ms.load()},
                       {"recording", control.recording.load() != 0},
                       {"work_us", control.work_us.load()}};
    return Response{200, "application/json", body.dump() + "\n", {}};
  });
  r.add("POST", "/demo/control", [&control](const Request& req, const Captures&) {
    const json b = json::parse(req.body, nullptr, false);
    const std::string error = control_error(b);
    if (!error.empty()) return http::error_response(400, error);
    if (b.contains("canary_error_rate"))
      control.canary_error_ppm = static_cast<std::uint32_t>(b["canary_error_rate"].get<double>() * 1e6);
    if (b.contains("canary_crash_rate"))
      control.canary_crash_ppm = static_cast<std::uint32_t>(b["canary_crash_rate"].get<double>() * 1e6);
    if (b.contains("canary_extra_latency_ms")) control.canary_extra_latency_ms = b["canary_extra_latency_ms"].get<std::uint32_t>();
    if (b.contains("recording")) control.recording = b["recording"].get<bool>() ? 1 : 0;
    if (b.contains("work_us")) control.work_us = b["work_us"].get<std::uint32_t>();
    return Response{200, "application/json", "{\"status\": \"ok\"}\n", {}};
  });

  r.add("GET", "/healthz", [](const Request&, const Captures&) {
    return Response{200, "application/json", "{\"status\": \"ok\"}\n", {}};
  });
  return r;
}

}  // namespace canary::demo
