// SPDX-License-Identifier: Apache-2.0
// The decision policy: the SLO gate, the rollback triggers, the ramp, the fail-safe and the
// webhooks (docs/policy.md has the YAML schema with a commented example). Defaults are the seed's
// numbers and SPEC section 5's windows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "canary/status.hpp"
#include "canary/types.hpp"

namespace canary {

struct GatePolicy {
  double max_error_rate_increase_points = 0.5;  // canary - legacy, percentage points
  double max_p95_increase = 0.10;               // (canary P95 - legacy P95) / legacy P95
  // (canary P99 - legacy P99) / legacy P99, off unless set: a tail that slows while the P95
  // stays put (the slowest 1% three times slower) is caught only by it.
  std::optional<double> max_p99_increase;
  std::uint64_t min_canary_requests = 1000;
  double alpha = 0.05;  // chance of letting through a canary that is outside the gate
  // A step the gate has not passed by then becomes inconclusive (ramp frozen, triggers armed).
  std::uint64_t max_step_duration_ms = 24 * 60 * 60 * 1000;
};

struct RollbackPolicy {
  std::uint64_t window_ms = 5 * 60 * 1000;
  double max_error_rate_percent = 5;
  double max_p95_ms = 2000;
  std::optional<double> max_p99_ms;  // a canary P99 proven above it is rolled back; off unless set
  double min_availability_percent = 99;
  bool when_gate_cannot_pass = true;  // a canary proven outside the gate is rolled back too
  bool count_4xx_as_errors = false;
  double alpha = 0.005;  // chance of ever rolling back a canary that is within its limits
  // The absolute triggers' change detectors keep their share of alpha over this long; over a
  // longer rollout their false-alarm chance grows in proportion (docs/statistics.md).
  std::uint64_t change_horizon_ms = 24 * 60 * 60 * 1000;
  // An absolute trigger that legacy breaches too, over the same window (an incident that hits
  // both): roll back anyway (the seed's rule), or hold and let the relative checks decide.
  enum class WhenLegacyAlsoBreaches { rollback, hold };
  WhenLegacyAlsoBreaches when_legacy_also_breaches = WhenLegacyAlsoBreaches::rollback;
};

struct RampPolicy {
  std::vector<std::uint32_t> steps_bp = {500, 1000, 2500, 5000, 10000};
  std::vector<std::uint64_t> bake_ms = {60 * 60 * 1000};  // one for every step, or one per step
  bool require_approval = true;  // 100% waits for `approve`

  std::uint64_t bake_for(std::size_t step) const { return bake_ms[std::min(step, bake_ms.size() - 1)]; }
};

// strategy: blue_green (SPEC section 10): the candidate serves a smoke share until its gate is
// proven, then every user at once (a switch); a trigger proven within the bake switches back and
// rolls it back; a bake without one promotes it.
enum class Strategy { canary, blue_green };
struct BlueGreenPolicy {
  std::uint32_t smoke_bp = 100;                // 1%
  std::uint64_t bake_ms = 10 * 60 * 1000;      // switched, triggers watched, before promotion
};

// How an endpoint is judged on its own: critical ones get more of the alpha and must pass the
// gate on their own too; ignored ones count nowhere (health checks, admin pages).
enum class EndpointRole { normal, critical, ignore };

struct FailSafePolicy {
  bool enabled = false;
  std::uint64_t stale_heartbeat_ms = 10'000;
};

struct WebhookPolicy {
  enum class Kind { slack, pagerduty };
  Kind kind = Kind::slack;
  std::string url;
  std::string routing_key;        // PagerDuty
  std::vector<EventKind> events;  // which events it gets; default: all for slack, rollbacks for pagerduty

  bool wants(EventKind k) const;
};

// Fleet mode (SPEC section 11): the regions' rollout waves, in order; each wave goes through the
// ramp's steps up to hold_at before the next one starts. Regions in no wave stay at 0.
struct WavePolicy {
  std::vector<std::string> regions;
  std::uint32_t hold_at_bp = 10000;
};
struct FleetPolicy {
  std::vector<WavePolicy> waves;  // empty: one wave of every region
  enum class Scope { fleet, region };
  Scope rollback_scope = Scope::fleet;  // a trigger proven in one region rolls back that region or all
  std::uint64_t etcd_lost_legacy_after_ms = 0;  // 0: keep the last config (fail-static)
};

struct Policy {
  GatePolicy gate;
  RollbackPolicy rollback;
  RampPolicy ramp;
  Strategy strategy = Strategy::canary;
  BlueGreenPolicy blue_green;
  std::vector<std::pair<std::string, EndpointRole>> endpoints;  // by template; unlisted: normal
  FailSafePolicy fail_safe;
  std::vector<WebhookPolicy> webhooks;
  std::uint64_t webhook_timeout_ms = 5000;
  std::uint32_t webhook_retries = 3;
  FleetPolicy fleet;

  EndpointRole role_of(std::string_view endpoint_template) const;
};

// The policy each of `candidates` engines judges with: the gate's and the triggers' alpha divided
// among them (Bonferroni), so the deployment as a whole keeps the policy's error rates whatever
// the candidates' data have in common.
Policy candidate_policy(Policy policy, std::size_t candidates);

// Errors read "FILE:LINE: field: problem".
Expected<Policy> parse_policy(std::string_view yaml, std::string_view file_name);
Expected<Policy> load_policy(const std::string& path);

}  // namespace canary
