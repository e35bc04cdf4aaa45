#include "canary/deployment.hpp"

#include <algorithm>
#include <string>

#include "canary/clock.hpp"
#include "canary/config_edit.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"

namespace canary {

namespace {

DeploymentState state_of(const ConfigData& c) { return static_cast<DeploymentState>(c.state); }

Status refuse(const ConfigData& c, std::string_view command, std::string_view allowed) {
  return {Errc::refused, std::string(command) + " is not possible while the deployment is " +
                             std::string(to_string(state_of(c))) + " (only " + std::string(allowed) + ")"};
}

void enter(ConfigData& c, DeploymentState state, std::string_view reason, EventKind kind, EventDraft& event) {
  c.state = static_cast<std::uint8_t>(state);
  set_text(c.state_reason, reason);
  event.kind = kind;
  event.reason = std::string(reason);
}

std::string_view or_default(std::string_view reason, std::string_view fallback) {
  return reason.empty() ? fallback : reason;
}

// The index of the largest ramp step at or below the share.
std::uint32_t step_index(const ConfigData& c) {
  std::uint32_t index = 0;
  for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i)
    if (c.ramp_bp[i] <= c.share_bp) index = i;
  return index;
}

void new_step(ConfigData& c, std::uint32_t share_bp) {
  c.share_bp = share_bp;
  c.step_started_unix_ns = unix_now_ns();
  c.ramp_step = step_index(c);
  c.awaiting_approval = 0;
}

Status srm_refusal(std::string_view what) {
  return {Errc::refused, std::string(what) + " waits: a sample-ratio mismatch is flagged (see status); find its cause, then srm-clear"};
}

}  // namespace

Status start_rollout(ConfigData& c, const StartOptions& o, std::string_view reason, EventDraft& event) {
  std::uint32_t share = c.ramp_count > 0 ? c.ramp_bp[0] : 500;
  if (o.share_bp) share = *o.share_bp;
  if (share > kMaxShareBp) return {Errc::invalid_argument, "share is above 100%"};
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5) && share % 100 != 0)
    return {Errc::invalid_argument, "md5 mode takes whole percents only; " + format_share_percent(share) + " is fractional"};
  if (o.salt) c.salt = *o.salt;
  new_step(c, share);
  c.srm_detected = 0;  // a new rollout, a new test
  c.rollout_started_unix_ns = c.step_started_unix_ns;
  enter(c, DeploymentState::running, or_default(reason, "a new rollout at " + format_share_percent(share) + "%"),
        EventKind::started, event);
  return Status::Ok();
}

Status promote(ConfigData& c, bool force, bool gate_holds, std::string_view reason, EventDraft& event) {
  if (state_of(c) == DeploymentState::inconclusive && !force)
    return {Errc::refused, "the step was inconclusive: the gate never passed; promote --force decides (or rollback, start)"};
  if (state_of(c) != DeploymentState::running && state_of(c) != DeploymentState::inconclusive)
    return refuse(c, "promote", "running, or inconclusive with --force");
  if (!force && !gate_holds)
    return {Errc::refused, "the promotion gate does not hold now (see status); promote --force skips it"};
  if (!force && c.srm_detected) return srm_refusal("promote");
  new_step(c, kMaxShareBp);
  enter(c, DeploymentState::promoted, or_default(reason, force ? "promoted by hand, gate skipped" : "promoted: the gate holds"),
        EventKind::promoted, event);
  return Status::Ok();
}

Status approve(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (state_of(c) != DeploymentState::running || !c.awaiting_approval)
    return {Errc::refused, "nothing awaits approval: approve follows a ramp that reached its last step before 100%"};
  if (c.srm_detected) return srm_refusal("approve");
  new_step(c, kMaxShareBp);
  enter(c, DeploymentState::promoted, or_default(reason, "approved: promoted to 100%"), EventKind::promoted, event);
  return Status::Ok();
}

Status roll_back(ConfigData& c, std::string_view reason, EventDraft& event) {
  const DeploymentState s = state_of(c);
  if (s != DeploymentState::running && s != DeploymentState::paused && s != DeploymentState::inconclusive)
    return refuse(c, "rollback", "running, paused or inconclusive");
  new_step(c, 0);
  enter(c, DeploymentState::rolled_back, or_default(reason, "rolled back by hand"), EventKind::rolled_back, event);
  return Status::Ok();
}

Status pause(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (state_of(c) != DeploymentState::running) return refuse(c, "pause", "running");
  enter(c, DeploymentState::paused, or_default(reason, "paused by hand: the ramp waits, triggers still roll back"),
        EventKind::paused, event);
  return Status::Ok();
}

Status resume(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (state_of(c) != DeploymentState::paused) return refuse(c, "resume", "paused");
  enter(c, DeploymentState::running, or_default(reason, "resumed by hand"), EventKind::resumed, event);
  return Status::Ok();
}

Status set_share_by_hand(ConfigData& c, std::uint32_t share_bp, EventDraft& event) {
  const std::uint32_t before = c.share_bp;
  if (Status s = set_share(c, share_bp); !s.ok()) return s;
  if (before != share_bp) {
    event.kind = EventKind::share_changed;
    event.reason = "share set by hand to " + format_share_percent(share_bp) + "%";
  }
  return Status::Ok();
}

std::optional<std::uint32_t> next_ramp_step(const ConfigData& c) {
  for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i)
    if (c.ramp_bp[i] > c.share_bp) return c.ramp_bp[i];
  return std::nullopt;
}

Status take_ramp_step(ConfigData& c, std::uint32_t share_bp, std::string_view reason, EventDraft& event) {
  if (state_of(c) != DeploymentState::running) return refuse(c, "a ramp step", "running");
  if (c.srm_detected) return srm_refusal("a ramp step");
  new_step(c, share_bp);
  set_text(c.state_reason, reason);
  event.kind = EventKind::ramp_step;
  event.reason = std::string(reason);
  return Status::Ok();
}

Status await_approval(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (state_of(c) != DeploymentState::running) return refuse(c, "awaiting approval", "running");
  if (c.srm_detected) return srm_refusal("awaiting approval");
  c.awaiting_approval = 1;
  set_text(c.state_reason, reason);
  event.kind = EventKind::awaiting_approval;
  event.reason = std::string(reason);
  return Status::Ok();
}

Status mark_inconclusive(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (state_of(c) != DeploymentState::running) return refuse(c, "inconclusive", "running");
  c.awaiting_approval = 0;
  enter(c, DeploymentState::inconclusive, reason, EventKind::inconclusive, event);
  return Status::Ok();
}

Status flag_srm(ConfigData& c, std::string_view reason, EventDraft& event) {
  const DeploymentState s = state_of(c);
  if (s != DeploymentState::running && s != DeploymentState::paused && s != DeploymentState::inconclusive)
    return refuse(c, "a sample-ratio flag", "running, paused or inconclusive");
  if (c.srm_detected) return {Errc::refused, "the sample-ratio flag is already set"};
  c.srm_detected = 1;
  event.kind = EventKind::srm_detected;
  event.reason = std::string(reason);
  return Status::Ok();
}

Status clear_srm(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (!c.srm_detected) return {Errc::refused, "no sample-ratio mismatch is flagged"};
  c.srm_detected = 0;
  event.kind = EventKind::srm_cleared;
  event.reason = std::string(or_default(reason, "sample-ratio flag cleared by hand: the test starts again"));
  return Status::Ok();
}

void adopt_policy_settings(ConfigData& c, const std::uint32_t* steps_bp, std::size_t steps, bool require_approval,
                           std::uint32_t fail_safe_after_ms) {
  c.ramp_count = static_cast<std::uint8_t>(std::min<std::size_t>(steps, kMaxRampSteps));
  for (std::uint32_t i = 0; i < kMaxRampSteps; ++i)
    c.ramp_bp[i] = i < c.ramp_count ? static_cast<std::uint16_t>(steps_bp[i]) : 0;
  c.require_approval = require_approval ? 1 : 0;
  c.fail_safe_after_ms = fail_safe_after_ms;
}

}  // namespace canary
