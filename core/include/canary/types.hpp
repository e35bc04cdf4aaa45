// SPDX-License-Identifier: Apache-2.0
// The small vocabulary shared by workers, the aggregator and the tools.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace canary {

// A version is a small index into the config's version table: 0 is the baseline (`legacy` by
// default), 1..7 the candidates (the first is `canary` by default). The two named values keep the
// two-version vocabulary; any index below kMaxVersions is a version.
enum class Version : std::uint8_t { legacy = 0, canary = 1 };
inline constexpr std::uint32_t kMaxVersions = 8;
inline constexpr std::uint32_t kBaseline = 0;
inline constexpr std::uint32_t kFirstCandidate = 1;

enum class HashMode : std::uint8_t { xxh3 = 0, md5 = 1 };

// inconclusive: a ramp step that did not pass within the policy's gate.max_step_duration; the ramp
// is frozen, the triggers still roll back, and a person decides (promote --force, rollback, start).
enum class DeploymentState : std::uint8_t { running = 0, paused = 1, rolled_back = 2, promoted = 3, inconclusive = 4 };
inline constexpr std::uint32_t kDeploymentStateCount = 5;

// What a deployment event records (the event log in the segment, the aggregator's JSON lines).
enum class EventKind : std::uint8_t {
  none = 0,
  started,            // a new rollout
  share_changed,      // set-percentage by hand
  ramp_step,          // the gate held for the bake time: the next step
  awaiting_approval,  // the next step is 100% and the policy wants an approval
  promoted,
  rolled_back,
  paused,
  resumed,
  inconclusive,  // a step that did not pass within gate.max_step_duration
  srm_detected,  // the sample-ratio test failed: ramp and promotion wait
  srm_cleared,   // a person cleared it (srm-clear)
  switched,      // blue-green: every user to one version
  switched_back, // blue-green: the shares before the switch again
};
inline constexpr std::uint32_t kEventKindCount = 14;

// An A/B experiment's life (SPEC section 10a): created as a draft; running assigns arms; stopped
// sends everyone to control and keeps the results; concluded sends everyone to one arm.
enum class ExperimentState : std::uint8_t { free = 0, draft, running, stopped, concluded };
inline constexpr std::uint32_t kExperimentStateCount = 5;
// conversion: a user's value is 1 once any event came (0 before); sum: the total of the values;
// count: the number of events.
enum class MetricKind : std::uint8_t { conversion = 0, sum, count };
inline constexpr std::uint32_t kMetricKindCount = 3;

enum class Method : std::uint8_t { get = 0, post, put, patch, del, other };
inline constexpr std::uint32_t kMethodCount = 6;

// "0" is a request that got no response (timeout, reset); "invalid" is a code outside 100..599.
enum class StatusClass : std::uint8_t { none = 0, c1xx, c2xx, c3xx, c4xx, c5xx, invalid };
inline constexpr std::uint32_t kStatusClassCount = 7;

// Endpoint ids are stable for the life of a segment; 0 is every path that matches no template.
using EndpointId = std::uint16_t;
inline constexpr EndpointId kOtherEndpoint = 0;
inline constexpr std::string_view kOtherEndpointName = "other";

constexpr StatusClass classify_status(std::uint32_t code) {
  if (code == 0) return StatusClass::none;
  if (code < 100 || code > 599) return StatusClass::invalid;
  return static_cast<StatusClass>(code / 100);
}
// An error is "no response" or a 5xx, everywhere (dump, loadgen, JSON, /metrics).
constexpr bool is_error(StatusClass c) { return c == StatusClass::none || c == StatusClass::c5xx; }
constexpr bool is_unavailable(std::uint32_t code) {
  return code == 0 || code == 502 || code == 503 || code == 504;
}

// "legacy" and "canary" for indices 0 and 1, "v2".."v7" beyond: the default names. A deployment's
// real names are in its config (version_name() in versions.hpp).
std::string_view to_string(Version v);
std::string_view to_string(HashMode m);
std::string_view to_string(DeploymentState s);
std::string_view to_string(Method m);
std::string_view to_string(EventKind k);
std::string_view to_string(StatusClass c);  // "0", "1xx" .. "5xx", "invalid"
std::string_view to_string(ExperimentState s);
std::string_view to_string(MetricKind k);
std::optional<MetricKind> parse_metric_kind(std::string_view s);

std::optional<Version> parse_version(std::string_view s);
std::optional<HashMode> parse_hash_mode(std::string_view s);
Method parse_method(std::string_view s);  // anything unknown is Method::other

}  // namespace canary
