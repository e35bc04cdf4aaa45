// SPDX-License-Identifier: Apache-2.0
#include "canary/deployment.hpp"

#include <algorithm>
#include <string>

#include "canary/clock.hpp"
#include "canary/config_edit.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary {

namespace {

DeploymentState state_of(const VersionEntry& v) { return static_cast<DeploymentState>(v.state); }

// "the deployment" with one candidate (the two-version wording), "'NAME'" with more.
std::string subject(const ConfigData& c, const VersionEntry& v) {
  return c.version_count > 2 ? "'" + std::string(text_of(v.name)) + "'" : std::string("the deployment");
}

Status refuse(const ConfigData& c, const VersionEntry& v, std::string_view command, std::string_view allowed) {
  return {Errc::refused, std::string(command) + " is not possible while " + subject(c, v) + " is " +
                             std::string(to_string(state_of(v))) + " (only " + std::string(allowed) + ")"};
}

void enter(VersionEntry& v, DeploymentState state, std::string_view reason, EventKind kind, EventDraft& event) {
  v.state = static_cast<std::uint8_t>(state);
  set_text(v.state_reason, reason);
  event.kind = kind;
  event.reason = std::string(reason);
}

std::string_view or_default(std::string_view reason, std::string_view fallback) {
  return reason.empty() ? fallback : reason;
}

// The index of the largest ramp step at or below the share.
std::uint32_t step_index(const ConfigData& c, std::uint32_t share_bp) {
  std::uint32_t index = 0;
  for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i)
    if (c.ramp_bp[i] <= share_bp) index = i;
  return index;
}

// The candidate's share becomes share_bp (the caller has checked the sum) and a new step begins.
void new_step(ConfigData& c, std::uint32_t candidate, std::uint32_t share_bp) {
  VersionEntry& v = c.versions[candidate];
  if (share_bp == kMaxShareBp)
    allot_everything(c, candidate);
  else
    (void)allot_share(c, candidate, share_bp);
  v.step_started_unix_ns = unix_now_ns();
  v.ramp_step = step_index(c, share_bp);
  v.awaiting_approval = 0;
}

Status srm_refusal(std::string_view what) {
  return {Errc::refused, std::string(what) + " waits: a sample-ratio mismatch is flagged (see status); find its cause, then srm-clear"};
}

// The candidate a command names must be an active one.
Expected<VersionEntry*> candidate_entry(ConfigData& c, std::uint32_t candidate, EventDraft& event) {
  if (candidate >= c.version_count || candidate == c.baseline || c.versions[candidate].slot != kSlotActive)
    return Status{Errc::invalid_argument, "not an active candidate version"};
  event.version = candidate;
  return &c.versions[candidate];
}

std::uint32_t others_sum(const ConfigData& c, std::uint32_t candidate) {
  std::uint32_t sum = 0;  // the baseline's share is 0
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    if (v != candidate) sum += c.versions[v].share_bp;
  return sum;
}

// The candidate, other than `starting`, that a promotion left serving everyone, if any.
std::optional<std::uint32_t> promoted_other(const ConfigData& c, std::uint32_t starting) {
  for (std::uint32_t v : active_candidates(c))
    if (v != starting && c.versions[v].state == static_cast<std::uint8_t>(DeploymentState::promoted) &&
        c.versions[v].share_bp == kMaxShareBp)
      return v;
  return std::nullopt;
}

// Before a new rollout: the promoted version becomes the baseline (it serves everyone already, so
// no user moves), or with `back_to_old` every user returns to the old baseline.
Status choose_baseline(ConfigData& c, std::uint32_t starting, std::optional<std::uint32_t> wanted) {
  const std::optional<std::uint32_t> promoted = promoted_other(c, starting);
  if (wanted && *wanted != c.baseline && wanted != promoted)
    return {Errc::invalid_argument, "the baseline can be the current one (" + std::string(version_name(c, c.baseline)) +
                                        ") or a version another candidate's promotion left serving everyone"};
  if (!promoted) return Status::Ok();
  const std::string p_name(version_name(c, *promoted));
  const std::string b_name(version_name(c, c.baseline));
  VersionEntry& p = c.versions[*promoted];
  if (wanted && *wanted == c.baseline) {  // everyone back to the old baseline
    (void)allot_share(c, *promoted, 0);
    p.state = static_cast<std::uint8_t>(DeploymentState::rolled_back);
    set_text(p.state_reason, "the next rollout starts again from " + b_name);
    return Status::Ok();
  }
  VersionEntry& old = c.versions[c.baseline];
  old.state = static_cast<std::uint8_t>(DeploymentState::rolled_back);
  old.endpoints_on[0] = p.endpoints_on[0], old.endpoints_on[1] = p.endpoints_on[1];
  set_text(old.state_reason, "replaced as the baseline by " + p_name);
  c.baseline = static_cast<std::uint8_t>(*promoted);
  p.share_bp = 0;  // it owns every bucket as the baseline now
  p.state = static_cast<std::uint8_t>(DeploymentState::running);
  set_text(p.state_reason, "the baseline since its promotion");
  return Status::Ok();
}

}  // namespace

Status start_rollout(ConfigData& c, const StartOptions& o, std::string_view reason, EventDraft& event,
                     std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  std::uint32_t share = c.ramp_count > 0 ? c.ramp_bp[0] : 500;
  if (o.share_bp) share = *o.share_bp;
  if (share > kMaxShareBp) return {Errc::invalid_argument, "share is above 100%"};
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5) && share % 100 != 0)
    return {Errc::invalid_argument, "md5 mode takes whole percents only; " + format_share_percent(share) + " is fractional"};
  if (c.switched) return {Errc::refused, "a blue-green switch is on; switch --back first"};
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5) && o.baseline && *o.baseline != c.baseline)
    return {Errc::invalid_argument, "md5 mode keeps legacy as the baseline"};
  const std::uint32_t baseline_before = c.baseline;
  if (c.hash_mode != static_cast<std::uint8_t>(HashMode::md5))
    if (Status s = choose_baseline(c, candidate, o.baseline); !s.ok()) return s;
  const std::string against =
      c.baseline != baseline_before ? " against " + std::string(version_name(c, c.baseline)) + ", the new baseline" : "";
  if (others_sum(c, candidate) + share > kMaxShareBp && share != kMaxShareBp)
    return {Errc::invalid_argument, "the candidates' shares would sum above 100%; lower another candidate first"};
  if (o.salt) c.salt = *o.salt;
  new_step(c, candidate, share);
  v.srm_detected = 0;  // a new rollout, a new test
  v.started_unix_ns = v.step_started_unix_ns;
  c.rollout_started_unix_ns = v.step_started_unix_ns;
  enter(v, DeploymentState::running, or_default(reason, "a new rollout at " + format_share_percent(share) + "%" + against),
        EventKind::started, event);
  return Status::Ok();
}

// Every other candidate gives its buckets up to the promoted one: rolled back, "superseded".
static void supersede_others(ConfigData& c, std::uint32_t promoted) {
  const std::string reason = "superseded by " + std::string(text_of(c.versions[promoted].name));
  for (std::uint32_t v : active_candidates(c)) {
    if (v == promoted) continue;
    VersionEntry& other = c.versions[v];
    other.share_bp = 0;
    other.awaiting_approval = 0;
    other.state = static_cast<std::uint8_t>(DeploymentState::rolled_back);
    set_text(other.state_reason, reason);
  }
}

Status promote(ConfigData& c, bool force, bool gate_holds, std::string_view reason, EventDraft& event,
               std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) == DeploymentState::inconclusive && !force)
    return {Errc::refused, "the step was inconclusive: the gate never passed; promote --force decides (or rollback, start)"};
  if (state_of(v) != DeploymentState::running && state_of(v) != DeploymentState::inconclusive)
    return refuse(c, v, "promote", "running, or inconclusive with --force");
  if (!force && !gate_holds)
    return {Errc::refused, "the promotion gate does not hold now (see status); promote --force skips it"};
  if (!force && v.srm_detected) return srm_refusal("promote");
  supersede_others(c, candidate);
  new_step(c, candidate, kMaxShareBp);
  enter(v, DeploymentState::promoted, or_default(reason, force ? "promoted by hand, gate skipped" : "promoted: the gate holds"),
        EventKind::promoted, event);
  return Status::Ok();
}

Status approve(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) != DeploymentState::running || !v.awaiting_approval)
    return {Errc::refused, "nothing awaits approval: approve follows a ramp that reached its last step before 100%"};
  if (v.srm_detected) return srm_refusal("approve");
  supersede_others(c, candidate);
  new_step(c, candidate, kMaxShareBp);
  enter(v, DeploymentState::promoted, or_default(reason, "approved: promoted to 100%"), EventKind::promoted, event);
  return Status::Ok();
}

Status roll_back(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  const DeploymentState s = state_of(v);
  if (s != DeploymentState::running && s != DeploymentState::paused && s != DeploymentState::inconclusive)
    return refuse(c, v, "rollback", "running, paused or inconclusive");
  // A switch that sends everyone to it ends with it: the shares underneath take over again.
  if (c.switched && c.switch_to == candidate) c.switched = 0, c.switch_to = c.switch_from = 0;
  new_step(c, candidate, 0);
  enter(v, DeploymentState::rolled_back, or_default(reason, "rolled back by hand"), EventKind::rolled_back, event);
  return Status::Ok();
}

Status pause(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) != DeploymentState::running) return refuse(c, v, "pause", "running");
  enter(v, DeploymentState::paused, or_default(reason, "paused by hand: the ramp waits, triggers still roll back"),
        EventKind::paused, event);
  return Status::Ok();
}

Status resume(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) != DeploymentState::paused) return refuse(c, v, "resume", "paused");
  enter(v, DeploymentState::running, or_default(reason, "resumed by hand"), EventKind::resumed, event);
  return Status::Ok();
}

Status set_share_by_hand(ConfigData& c, std::uint32_t share_bp, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  const std::uint32_t before = (*entry)->share_bp;
  if (Status s = set_share(c, share_bp, candidate); !s.ok()) return s;
  if (before != share_bp) {
    event.kind = EventKind::share_changed;
    event.reason = "share set by hand to " + format_share_percent(share_bp) + "%";
  }
  return Status::Ok();
}

std::optional<std::uint32_t> next_ramp_step(const ConfigData& c, std::uint32_t candidate) {
  const std::uint32_t share = candidate < kMaxVersions ? c.versions[candidate].share_bp : 0;
  for (std::uint32_t i = 0; i < c.ramp_count && i < kMaxRampSteps; ++i)
    if (c.ramp_bp[i] > share) return c.ramp_bp[i];
  return std::nullopt;
}

Status take_ramp_step(ConfigData& c, std::uint32_t share_bp, std::string_view reason, EventDraft& event,
                      std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) != DeploymentState::running) return refuse(c, v, "a ramp step", "running");
  if (v.srm_detected) return srm_refusal("a ramp step");
  if (c.switched) return {Errc::refused, "a blue-green switch is on"};
  if (others_sum(c, candidate) + share_bp > kMaxShareBp)
    return {Errc::refused, "the next step would take the candidates' shares above 100%"};
  new_step(c, candidate, share_bp);
  set_text(v.state_reason, reason);
  event.kind = EventKind::ramp_step;
  event.reason = std::string(reason);
  return Status::Ok();
}

Status await_approval(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) != DeploymentState::running) return refuse(c, v, "awaiting approval", "running");
  if (v.srm_detected) return srm_refusal("awaiting approval");
  v.awaiting_approval = 1;
  set_text(v.state_reason, reason);
  event.kind = EventKind::awaiting_approval;
  event.reason = std::string(reason);
  return Status::Ok();
}

Status mark_inconclusive(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (state_of(v) != DeploymentState::running) return refuse(c, v, "inconclusive", "running");
  v.awaiting_approval = 0;
  enter(v, DeploymentState::inconclusive, reason, EventKind::inconclusive, event);
  return Status::Ok();
}

Status flag_srm(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  const DeploymentState s = state_of(v);
  if (s != DeploymentState::running && s != DeploymentState::paused && s != DeploymentState::inconclusive)
    return refuse(c, v, "a sample-ratio flag", "running, paused or inconclusive");
  if (v.srm_detected) return {Errc::refused, "the sample-ratio flag is already set"};
  v.srm_detected = 1;
  event.kind = EventKind::srm_detected;
  event.reason = std::string(reason);
  return Status::Ok();
}

Status clear_srm(ConfigData& c, std::string_view reason, EventDraft& event, std::uint32_t candidate) {
  auto entry = candidate_entry(c, candidate, event);
  if (!entry) return entry.status();
  VersionEntry& v = **entry;
  if (!v.srm_detected) return {Errc::refused, "no sample-ratio mismatch is flagged"};
  v.srm_detected = 0;
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
