// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/engine.hpp"

#include "canary/decision/version_evidence.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/deployment.hpp"
#include "canary/log.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"

namespace canary {

namespace {

constexpr std::size_t kMaxDetailsBytes = 700;  // EventEntry::details holds 720

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json check_json(const Check& c) {
  nlohmann::json j = {{"check", c.name},        {"window", c.window},           {"value", number(c.value)},
                      {"bound", number(c.bound)}, {"threshold", number(c.threshold)}, {"canary_samples", c.canary_samples},
                      {"legacy_samples", c.legacy_samples}};
  if (!c.endpoint.empty()) j["endpoint"] = c.endpoint;
  if (c.window == "change") {
    j["log_evidence"] = number(c.log_evidence);
    j["log_evidence_level"] = number(c.log_evidence_level);
  }
  return j;
}

// The event's details, as much as fits: the gate list goes first when it does not.
std::string fit(nlohmann::json details) {
  std::string text = details.dump();
  if (text.size() > kMaxDetailsBytes) {
    details.erase("gate");
    text = details.dump();
  }
  return text.size() <= kMaxDetailsBytes ? text : std::string();
}

std::string percent(std::uint32_t bp) { return format_share_percent(bp) + "%"; }

}  // namespace

DecisionEngine::DecisionEngine(Segment& segment, Policy policy, std::uint32_t interval_ms, std::uint32_t candidate)
    : segment_(&segment), candidate_(candidate), policy_(std::move(policy)), interval_ms_(interval_ms), status_(std::make_shared<DecisionStatus>()) {
  watch_.reset(policy_);
  slow_over_us_ = static_cast<std::uint64_t>(policy_.rollback.max_p95_ms * 1000);
}

Status DecisionEngine::adopt_policy() {
  const RampPolicy& r = policy_.ramp;
  const std::uint32_t fail_safe = policy_.fail_safe.enabled ? static_cast<std::uint32_t>(policy_.fail_safe.stale_heartbeat_ms) : 0;
  // Blue-green has one step, the smoke share (what `start` begins with); the switch does the rest.
  const bool blue_green = policy_.strategy == Strategy::blue_green;
  const std::uint32_t smoke[] = {policy_.blue_green.smoke_bp};
  return update_config(*segment_, "canary-aggregator (policy)", [&](ConfigData& c) {
    if (blue_green)
      adopt_policy_settings(c, smoke, 1, false, fail_safe);
    else
      adopt_policy_settings(c, r.steps_bp.data(), r.steps_bp.size(), r.require_approval, fail_safe);
    return Status::Ok();
  });
}

void DecisionEngine::fold_pending() {
  for (std::uint32_t v = 0; v < kSides; ++v) {
    if (pending_[v].empty()) continue;
    Samples interval;
    interval.digest.add_all(pending_[v]);
    for (double us : pending_[v]) interval.sketch.add(static_cast<std::uint64_t>(us));
    step_.latency[v].merge(interval);
    for (Stretch& b : blocks_) b.latency[v].merge(interval);
    interval_[v].merge(interval);
    pending_[v].clear();
  }
}

void DecisionEngine::fold_users() {
  step_.users.merge(interval_users_);
  for (Stretch& b : blocks_) b.users.merge(interval_users_);
  interval_users_.clear();
}

void DecisionEngine::restart_step(std::uint64_t now_ms, const WindowCounts (&totals)[kSides],
                                  const std::vector<WindowCounts>& counts, bool new_rollout) {
  const std::uint64_t sequence = new_rollout ? 1 : step_.sequence + 1;
  step_ = Stretch{};
  step_.sequence = sequence;
  step_.started_ms = now_ms;
  for (std::uint32_t v = 0; v < kSides; ++v) step_.baseline[v] = totals[v];
  step_.endpoint_baseline = counts;
  for (std::uint32_t v = 0; v < 2; ++v) {
    step_timed_[v].assign(counts.size() / kSides, 0);
    step_slow_[v].assign(counts.size() / kSides, 0);
  }
  gate_held_since_ms_ = 0;
  if (new_rollout) {
    blocks_.clear();
    watch_.reset(policy_);
    for (std::uint32_t v = 0; v < kSides; ++v) watched_totals_[v] = totals[v];
  }
}

void DecisionEngine::classify_endpoints(const ConfigData& config, std::uint32_t capacity) {
  ignored_.assign(capacity, false);
  comparable_.assign(capacity, false);
  for (std::uint32_t e = 0; e < capacity && e < config.endpoint_count; ++e) comparable_[e] = endpoint_on(mine(config), e);
  if (policy_.endpoints.empty()) return;
  for (std::uint32_t e = 0; e < capacity && e < config.endpoint_count; ++e) {
    const EndpointEntry& entry = config.endpoints[e];
    if (!entry.registered) continue;
    const std::string_view name(entry.path, std::min<std::size_t>(entry.path_len, sizeof entry.path));
    ignored_[e] = policy_.role_of(name) == EndpointRole::ignore;
  }
}

std::vector<EndpointEvidence> DecisionEngine::endpoint_evidence(const std::vector<WindowCounts>& counts, std::uint32_t capacity,
                                                                const ConfigData& config) const {
  std::vector<EndpointEvidence> out;
  for (std::uint32_t e = 0; e < capacity && e < config.endpoint_count; ++e) {
    const EndpointEntry& entry = config.endpoints[e];
    if (!entry.registered || ignored_[e]) continue;
    EndpointEvidence ep;
    ep.name.assign(entry.path, std::min<std::size_t>(entry.path_len, sizeof entry.path));
    ep.critical = policy_.role_of(ep.name) == EndpointRole::critical;
    for (std::uint32_t v = 0; v < 2; ++v) {
      const std::size_t k = static_cast<std::size_t>(v) * capacity + e;
      const WindowCounts baseline = k < step_.endpoint_baseline.size() ? step_.endpoint_baseline[k] : WindowCounts{};
      const WindowCounts c = counts[k].since(baseline);
      VersionEvidence& ve = v == static_cast<std::uint32_t>(Version::canary) ? ep.canary : ep.legacy;
      ve.requests = c.requests;
      ve.errors = c.errors + (policy_.rollback.count_4xx_as_errors ? c.client_errors : 0);
      ve.unavailable = c.unavailable;
      if (step_.users_tracked) {  // the baseline's identified users only; both sides' design effects
        const UserBuckets::Tally users = step_.users.tally(v, e);
        if (v == 0) {
          ve.requests = users.requests;
          ve.errors = users.errors;
          ve.unavailable = users.unavailable;
        }
        ve.design_effect = users.design_effect;
        ve.unavailable_design_effect = users.unavailable_design_effect;
      }
      const bool timed = e < step_timed_[v].size();
      (v == 1 ? ep.canary_timed : ep.legacy_timed) = timed ? step_timed_[v][e] : 0;
      (v == 1 ? ep.canary_slow : ep.legacy_slow) = timed ? step_slow_[v][e] : 0;
    }
    out.push_back(std::move(ep));
  }
  return out;
}

void DecisionEngine::add_comparisons(const Stretch& s, const ConfigData& config, std::uint32_t capacity, Evidence& e) const {
  if (!s.users_tracked) return;
  std::vector<std::string> names(std::min<std::uint32_t>(capacity, config.endpoint_count));
  for (std::uint32_t id = 0; id < names.size(); ++id) {
    const EndpointEntry& entry = config.endpoints[id];
    if (!entry.registered || (id < ignored_.size() && ignored_[id])) continue;
    names[id].assign(entry.path, std::min<std::size_t>(entry.path_len, sizeof entry.path));
  }
  add_user_evidence(s.users, names, e);
}

// The change detectors see every interval of the rollout, whatever the state: a paused canary
// that breaks is still caught, and a resumed one does not start from nothing.
void DecisionEngine::watch_changes(std::uint64_t now_ms, const WindowCounts (&totals)[kSides]) {
  IntervalCounts interval[ChangeWatch::kVersions];
  for (std::uint32_t v = 0; v < ChangeWatch::kVersions; ++v) {
    const WindowCounts d = totals[v].since(watched_totals_[v]);
    interval[v].requests = d.requests;
    interval[v].errors = d.errors + (policy_.rollback.count_4xx_as_errors ? d.client_errors : 0);
    interval[v].unavailable = d.unavailable;
    interval[v].latency_samples = interval_seen_[v];
    interval[v].slow = interval_slow_[v];
    watched_totals_[v] = totals[v];
    interval_seen_[v] = interval_slow_[v] = 0;
  }
  const double dt = last_tick_ms_ == 0 || now_ms < last_tick_ms_ ? 0.0 : static_cast<double>(now_ms - last_tick_ms_) / 1000;
  watch_.update(interval, dt);
  for (std::uint32_t v = 0; v < kSides; ++v) {
    const IntervalCounts& c = interval[v];
    step_.time[v].add(c.requests, c.errors, c.unavailable, dt);
    for (Stretch& b : blocks_) b.time[v].add(c.requests, c.errors, c.unavailable, dt);
  }
}

void DecisionEngine::roll_blocks(std::uint64_t now_ms, const WindowCounts (&totals)[kSides]) {
  const std::uint64_t block_ms = policy_.rollback.window_ms / 2;
  if (!blocks_.empty() && now_ms < blocks_.back().started_ms + block_ms) return;
  Stretch next;
  next.sequence = blocks_.empty() ? 1 : blocks_.back().sequence + 1;
  next.started_ms = now_ms;
  for (std::uint32_t v = 0; v < kSides; ++v) next.baseline[v] = totals[v];
  blocks_.push_back(std::move(next));
  if (blocks_.size() > 2) blocks_.pop_front();
}

Evidence DecisionEngine::evidence(Stretch& s, const WindowCounts (&totals)[kSides], const char* window) {
  Evidence e;
  e.sequence = s.sequence;
  e.window = window;
  for (std::uint32_t v = 0; v < kSides; ++v) {
    VersionEvidence& ve = v == static_cast<std::uint32_t>(Version::canary) ? e.canary : e.legacy;
    ve = version_evidence(totals[v].since(s.baseline[v]), s.latency[v], policy_.rollback.count_4xx_as_errors);
    ve.time_design_effect = s.time[v].design_effect();
    ve.unavailable_time_design_effect = s.time[v].unavailable_design_effect();
    ve.time_slices = std::max<std::uint64_t>(1, s.time[v].slices());  // measured, even before its first request
  }
  return e;
}

void DecisionEngine::tick(std::uint64_t now_ms, const std::vector<WindowCounts>& all_counts, std::uint32_t capacity,
                          const ConfigData& config) {
  baseline_ = config.baseline;
  if (candidate_ == baseline_ || candidate_ >= config.version_count || mine(config).slot != kSlotActive) {
    // Not a candidate now (the baseline since a promotion, or retired): nothing to judge.
    fold_pending();
    std::lock_guard lock(status_mutex_);
    status_ = std::make_shared<DecisionStatus>();
    return;
  }
  // The baseline's and this candidate's pairs only, as sides 0 and 1.
  std::vector<WindowCounts> counts(std::size_t{kSides} * capacity);
  for (std::uint32_t e = 0; e < capacity; ++e) {
    counts[e] = all_counts[std::size_t{baseline_} * capacity + e];
    counts[std::size_t{capacity} + e] = all_counts[std::size_t{candidate_} * capacity + e];
  }
  fold_pending();  // this interval's records belong to the stretches as they stand
  fold_users();
  classify_endpoints(config, capacity);
  WindowCounts totals[kSides];
  for (std::uint32_t v = 0; v < kSides; ++v)
    for (std::uint32_t e = 0; e < capacity; ++e)
      if (e >= ignored_.size() || !ignored_[e]) totals[v] += counts[static_cast<std::size_t>(v) * capacity + e];
  const bool new_rollout = mine(config).started_unix_ns != rollout_key_;
  if (new_rollout || mine(config).step_started_unix_ns != step_key_) {
    restart_step(now_ms, totals, counts, new_rollout);
    step_key_ = mine(config).step_started_unix_ns;
    rollout_key_ = mine(config).started_unix_ns;
  }
  roll_blocks(now_ms, totals);
  watch_changes(now_ms, totals);

  auto status = std::make_shared<DecisionStatus>();
  status->step_started_unix_ns = mine(config).step_started_unix_ns;
  status->step_sequence = step_.sequence;
  status->bake_ms = policy_.ramp.bake_for(mine(config).ramp_step);
  status->next_step_bp = next_ramp_step(config, candidate_);
  status->last_rollback_latency_ms = last_rollback_latency_ms_;
  const auto state = static_cast<DeploymentState>(mine(config).state);
  if (state == DeploymentState::running || state == DeploymentState::paused || state == DeploymentState::inconclusive) {
    Evidence step = evidence(step_, totals, "step");
    add_comparisons(step_, config, capacity, step);
    Evidence recent = evidence(blocks_.front(), totals, "rolling");
    add_comparisons(blocks_.front(), config, capacity, recent);
    JudgeInput input;
    input.step = &step;
    input.recent = &recent;
    input.changes = &watch_;
    input.endpoints = endpoint_evidence(counts, capacity, config);
    JudgeOptions options;
    options.evaluate_gate = true;
    status->judgement = judge(policy_, input, options);
    status->judged = true;
    status->judged_unix_ns = unix_now_ns();
    // A fleet's host judges for its status page only: the fleet controller decides for every host.
    if (!config.fleet_managed) act(status->judgement, config, now_ms, *status);
  }
  if (!config.fleet_managed) check_sample_ratio(config, capacity, new_rollout, *status);
  status->decision_write_failures = write_failures_;
  status->last_decision_write_failure = last_write_failure_;
  first_record_ms_ = 0;
  last_tick_ms_ = now_ms;
  std::lock_guard lock(status_mutex_);
  status_ = std::move(status);
}

// Every automatic change goes through here, so one that fails (the config lock, a state a person
// changed meanwhile) is logged in one place; the next interval judges again.
Status DecisionEngine::change(const char* who, const char* what, const ConfigChange& edit, EventDraft& event) {
  Status s = update_config(*segment_, who, edit, &event);
  if (!s.ok()) {
    log(LogLevel::error, "an automatic decision could not be written into the config; judged again next interval",
        {{"segment", segment_->name()}, {"decision", what}, {"error", s.message()}});
    ++write_failures_;
    last_write_failure_ = std::string(what) + ": " + s.message();
  }
  return s;
}

void DecisionEngine::act(const Judgement& j, const ConfigData& config, std::uint64_t now_ms, DecisionStatus& status) {
  constexpr const char* kWho = "canary-aggregator (automatic)";
  const auto state = static_cast<DeploymentState>(mine(config).state);

  if (j.rollback) {
    const Check& t = *j.first_trigger();
    // From the first record of this interval (the condition was not provable before it) to the
    // config change below: an upper bound of the time from the first provable record.
    const std::uint64_t from = first_record_ms_ != 0 ? first_record_ms_ : last_tick_ms_;
    const std::uint64_t changing_ms = monotonic_ms();
    const std::uint64_t latency_ms = changing_ms > from ? changing_ms - from : 0;
    nlohmann::json details = check_json(t);
    details["test"] = t.test;
    details["latency_ms"] = latency_ms;
    details["latency_intervals"] = static_cast<double>(latency_ms) / interval_ms_;
    if (t.legacy_also_breaches) details["legacy_also_breaches"] = true;
    char reason[192];
    const std::string where = t.endpoint.empty() ? "" : ", endpoint " + t.endpoint;
    if (t.window == "change")
      std::snprintf(reason, sizeof reason, "automatic rollback: %s changed to about %.4g, beyond %.4g (change detected%s)%s",
                    t.name.c_str(), t.value, t.threshold, where.c_str(), t.legacy_also_breaches ? "; legacy also breaches" : "");
    else
      std::snprintf(reason, sizeof reason, "automatic rollback: %s %.4g, proven beyond %.4g (bound %.4g, %s window%s)%s",
                    t.name.c_str(), t.value, t.threshold, t.bound, t.window.c_str(), where.c_str(),
                    t.legacy_also_breaches ? "; legacy also breaches" : "");
    EventDraft event;
    event.details_json = fit(details);
    event.latency_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(latency_ms, UINT32_MAX));
    // Blue-green: everyone back to where they were first (the switch is the fast lever), then the
    // candidate rolled back as any other.
    if (config.switched && config.switch_to == candidate_) {
      EventDraft back = event;
      (void)change(kWho, "switch back", [&](ConfigData& c) { return switch_back(c, std::string("switched back: ") + reason, back); },
                   back);
    }
    if (change(kWho, "rollback", [&](ConfigData& c) { return roll_back(c, reason, event, candidate_); }, event).ok()) {
      last_rollback_latency_ms_ = latency_ms;
      status.last_rollback_latency_ms = latency_ms;
    }
    return;
  }

  if (state != DeploymentState::running || mine(config).awaiting_approval) return;
  if (policy_.strategy == Strategy::blue_green) {
    act_blue_green(j, config, status);
    return;
  }
  if (config.switched) return;  // a switch by hand holds every share where it is: the ramp waits
  if (!j.gate_holds) gate_held_since_ms_ = 0;
  if (j.gate_holds && gate_held_since_ms_ == 0) gate_held_since_ms_ = now_ms;
  if (j.gate_holds) status.gate_held_ms = now_ms - gate_held_since_ms_ + interval_ms_;
  if (!j.gate_holds || status.gate_held_ms < status.bake_ms) {
    give_up_if_overdue(j, config, status);
    return;
  }
  if (mine(config).srm_detected) return;  // the ramp waits until a person clears it (status says why)

  nlohmann::json details = {{"gate_held_s", static_cast<double>(status.gate_held_ms) / 1000.0},
                            {"canary_requests", j.gate.empty() ? 0 : j.gate.back().canary_samples}};
  nlohmann::json gate = nlohmann::json::array();
  for (const Check& c : j.gate) gate.push_back({{"check", c.name}, {"bound", number(c.bound)}, {"threshold", c.threshold}});
  details["gate"] = gate;
  EventDraft event;
  event.details_json = fit(details);
  const std::optional<std::uint32_t> next = status.next_step_bp;
  if (next && *next < kMaxShareBp) {
    const std::string reason = "ramp: the gate held for " + std::to_string(status.gate_held_ms / 1000) + " s at " +
                               percent(mine(config).share_bp) + ", next step " + percent(*next);
    (void)change(kWho, "ramp step", [&](ConfigData& c) { return take_ramp_step(c, *next, reason, event, candidate_); }, event);
  } else if (next || mine(config).share_bp == kMaxShareBp) {
    if (config.require_approval) {
      const std::string reason = "the gate held at " + percent(mine(config).share_bp) + "; 100% waits for approve";
      (void)change(kWho, "awaiting approval", [&](ConfigData& c) { return await_approval(c, reason, event, candidate_); }, event);
    } else {
      (void)change(kWho, "promotion", [&](ConfigData& c) { return promote(c, false, true, "promoted: the gate held at every step", event, candidate_); },
                   event);
    }
  }
}

void DecisionEngine::act_blue_green(const Judgement& j, const ConfigData& config, DecisionStatus& status) {
  constexpr const char* kWho = "canary-aggregator (automatic)";
  const VersionEntry& me = mine(config);
  status.bake_ms = policy_.blue_green.bake_ms;
  status.next_step_bp.reset();
  if (config.switched && config.switch_to != candidate_) return;  // another version has everyone
  if (!config.switched) {
    // At the smoke share: everyone switches once the gate is proven (no bake: the triggers bake after).
    if (!j.gate_holds || me.srm_detected) {
      give_up_if_overdue(j, config, status);
      return;
    }
    EventDraft event;
    event.details_json = fit({{"canary_requests", j.gate.empty() ? 0 : j.gate.back().canary_samples},
                              {"smoke_share", percent(me.share_bp)}});
    const std::string reason = "blue-green: the gate held at the smoke share " + percent(me.share_bp) +
                               "; every user to " + std::string(text_of(me.name)) + ", triggers watched for " +
                               std::to_string(policy_.blue_green.bake_ms / 1000) + " s";
    (void)change(kWho, "blue-green switch", [&](ConfigData& c) {
      Status s = switch_to(c, candidate_, reason, event);
      if (s.ok()) c.versions[candidate_].step_started_unix_ns = unix_now_ns();  // the bake, and the triggers' data, start now
      return s;
    }, event);
    return;
  }
  // Switched to this candidate: a proven trigger switched back above; a bake without one promotes.
  const std::uint64_t now_ns = unix_now_ns();
  const std::uint64_t baked_ms = now_ns > me.step_started_unix_ns ? (now_ns - me.step_started_unix_ns) / 1'000'000 : 0;
  status.gate_held_ms = baked_ms;
  if (baked_ms < policy_.blue_green.bake_ms) return;
  EventDraft event;
  event.details_json = fit({{"baked_s", baked_ms / 1000}});
  const std::string reason = "promoted: switched for " + std::to_string(baked_ms / 1000) + " s without a trigger";
  (void)change(kWho, "blue-green promotion", [&](ConfigData& c) {
    c.switched = 0;  // the allotment below takes over from the switch
    c.switch_to = c.switch_from = 0;
    return promote(c, false, true, reason, event, candidate_);
  }, event);
}

void DecisionEngine::check_sample_ratio(const ConfigData& config, std::uint32_t capacity, bool new_rollout,
                                        DecisionStatus& status) {
  if (new_rollout) srm_.restart(true);
  else if (srm_flagged_ && !mine(config).srm_detected) srm_.restart(false);  // cleared by a person: test again
  srm_flagged_ = mine(config).srm_detected != 0;
  srm_.end_interval(config, capacity, candidate_);
  status.srm = srm_.status();
  status.srm.detected = status.srm.detected || srm_flagged_;
  const auto state = static_cast<DeploymentState>(mine(config).state);
  const bool live = state == DeploymentState::running || state == DeploymentState::paused || state == DeploymentState::inconclusive;
  if (!srm_.status().detected || srm_flagged_ || !live) return;
  const SrmStatus& s = srm_.status();
  char reason[192];
  std::snprintf(reason, sizeof reason, "sample-ratio mismatch%s%s: %.3f%% of %llu users on the canary, %.3f%% expected; ramp and promotion wait",
                s.endpoint.empty() ? "" : " on ", s.endpoint.c_str(), 100 * s.observed, static_cast<unsigned long long>(s.requests),
                100 * s.expected);
  EventDraft event;
  event.details_json = fit({{"observed", s.observed}, {"expected", s.expected}, {"requests", s.requests},
                            {"endpoint", s.endpoint}, {"log_evidence", s.log_evidence}, {"log_evidence_level", s.log_evidence_level}});
  if (change("canary-aggregator (automatic)", "sample-ratio flag", [&](ConfigData& c) { return flag_srm(c, reason, event, candidate_); }, event).ok())
    srm_flagged_ = true;
}

void DecisionEngine::give_up_if_overdue(const Judgement& j, const ConfigData& config, const DecisionStatus& status) {
  const std::uint64_t now_ns = unix_now_ns();
  const std::uint64_t limit_ms = policy_.gate.max_step_duration_ms;
  if (mine(config).step_started_unix_ns == 0 || now_ns < mine(config).step_started_unix_ns ||
      (now_ns - mine(config).step_started_unix_ns) / 1'000'000 < limit_ms)
    return;
  nlohmann::json failing = nlohmann::json::array();
  for (const Check& c : j.gate)
    if (!c.holds) failing.push_back({{"check", c.name}, {"value", number(c.value)}, {"bound", number(c.bound)}, {"threshold", c.threshold}});
  nlohmann::json details = {{"max_step_duration_s", limit_ms / 1000},
                            {"gate_held_s", static_cast<double>(status.gate_held_ms) / 1000.0},
                            {"gate", failing}};
  EventDraft event;
  event.details_json = fit(details);
  const std::string reason = "inconclusive: the gate did not pass within " + std::to_string(limit_ms / 1000) + " s at " +
                             percent(mine(config).share_bp) + "; ramp frozen, triggers armed; promote --force, rollback or start";
  (void)change("canary-aggregator (automatic)", "inconclusive", [&](ConfigData& c) { return mark_inconclusive(c, reason, event, candidate_); }, event);
}

std::shared_ptr<const DecisionStatus> DecisionEngine::status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

namespace {
// The engine's instants are on the monotonic clock, which a reboot restarts: a checkpoint keeps
// ages instead (saturating), and a restore places them before its own now, clamped at 0 (never
// older than the clock: a duration is under-counted, never wrapped).
std::uint64_t age(std::uint64_t now_ms, std::uint64_t at_ms) { return now_ms > at_ms ? now_ms - at_ms : 0; }
std::uint64_t rebased(std::uint64_t now_ms, std::uint64_t age_ms) { return now_ms > age_ms ? now_ms - age_ms : 0; }
}  // namespace

void DecisionEngine::serialize(ByteWriter& out, std::uint64_t now_ms) {
  out.u64(step_key_);
  out.u64(rollout_key_);
  // 0: the gate does not hold; else 1 + how long it has held.
  out.u64(gate_held_since_ms_ == 0 ? 0 : 1 + age(now_ms, gate_held_since_ms_));
  out.u64(blocks_.size());
  auto stretch = [&](Stretch& s) {
    out.u64(s.sequence);
    out.u64(age(now_ms, s.started_ms));
    for (std::uint32_t v = 0; v < kSides; ++v) {
      const WindowCounts& b = s.baseline[v];
      for (std::uint64_t x : {b.requests, b.errors, b.client_errors, b.unavailable, b.latency_sum_us}) out.u64(x);
      s.latency[v].serialize(out);
      s.time[v].serialize(out);
    }
  };
  stretch(step_);
  for (Stretch& b : blocks_) stretch(b);
  out.u64(step_.endpoint_baseline.size());
  for (const WindowCounts& b : step_.endpoint_baseline)
    for (std::uint64_t x : {b.requests, b.errors, b.client_errors, b.unavailable, b.latency_sum_us}) out.u64(x);
  for (std::uint32_t v = 0; v < 2; ++v) {
    out.u64(step_timed_[v].size());
    for (std::size_t e = 0; e < step_timed_[v].size(); ++e) {
      out.u64(step_timed_[v][e]);
      out.u64(step_slow_[v][e]);
    }
  }
  step_.users.serialize(out);
  watch_.serialize(out);
  for (const WindowCounts& b : watched_totals_)
    for (std::uint64_t x : {b.requests, b.errors, b.client_errors, b.unavailable, b.latency_sum_us}) out.u64(x);
}

bool DecisionEngine::deserialize(ByteReader& in, std::uint64_t now_ms) {
  std::uint64_t step_key = 0, rollout_key = 0, held = 0, blocks = 0;
  if (!in.u64(step_key) || !in.u64(rollout_key) || !in.u64(held) || !in.u64(blocks) || blocks > 2) return false;
  auto stretch = [&](Stretch& s) {
    std::uint64_t started_age = 0;
    if (!in.u64(s.sequence) || !in.u64(started_age)) return false;
    s.started_ms = rebased(now_ms, started_age);
    for (std::uint32_t v = 0; v < kSides; ++v) {
      WindowCounts& b = s.baseline[v];
      if (!in.u64(b.requests) || !in.u64(b.errors) || !in.u64(b.client_errors) || !in.u64(b.unavailable) ||
          !in.u64(b.latency_sum_us) || !s.latency[v].deserialize(in) || !s.time[v].deserialize(in))
        return false;
    }
    return true;
  };
  Stretch step;
  std::deque<Stretch> restored;
  if (!stretch(step)) return false;
  for (std::uint64_t i = 0; i < blocks; ++i) {
    Stretch b;
    if (!stretch(b)) return false;
    restored.push_back(std::move(b));
  }
  auto counts = [&](WindowCounts& b) {
    return in.u64(b.requests) && in.u64(b.errors) && in.u64(b.client_errors) && in.u64(b.unavailable) && in.u64(b.latency_sum_us);
  };
  std::uint64_t endpoint_pairs = 0;
  if (!in.u64(endpoint_pairs) || endpoint_pairs > kSides * kMaxEndpoints) return false;
  step.endpoint_baseline.resize(endpoint_pairs);
  for (WindowCounts& b : step.endpoint_baseline)
    if (!counts(b)) return false;
  std::vector<std::uint64_t> timed[2], slow[2];
  for (std::uint32_t v = 0; v < 2; ++v) {
    std::uint64_t n = 0;
    if (!in.u64(n) || n > kMaxEndpoints) return false;
    timed[v].resize(n);
    slow[v].resize(n);
    for (std::size_t e = 0; e < n; ++e)
      if (!in.u64(timed[v][e]) || !in.u64(slow[v][e])) return false;
  }
  if (!step.users.deserialize(in)) return false;
  for (Stretch& b : restored) b.users_tracked = false;
  ChangeWatch watch;
  WindowCounts watched[kSides];
  if (!watch.deserialize(in)) return false;
  for (WindowCounts& b : watched)
    if (!counts(b)) return false;
  watch_ = watch;
  watch_.adopt(policy_);
  for (std::uint32_t v = 0; v < 2; ++v) {
    step_timed_[v] = std::move(timed[v]);
    step_slow_[v] = std::move(slow[v]);
  }
  for (std::uint32_t v = 0; v < kSides; ++v) watched_totals_[v] = watched[v];
  step_key_ = step_key;
  rollout_key_ = rollout_key;
  // 1 ms at the least: 0 means "not held".
  gate_held_since_ms_ = held == 0 ? 0 : std::max<std::uint64_t>(1, rebased(now_ms, held - 1));
  step_ = std::move(step);
  blocks_ = std::move(restored);
  return true;
}

void DecisionEngine::journal_interval(ByteWriter& out) {
  out.u64(step_key_);
  for (Samples& d : interval_) {
    d.serialize(out);
    d.clear();
  }
}

bool DecisionEngine::replay_interval(ByteReader& in) {
  std::uint64_t step_key = 0;
  if (!in.u64(step_key)) return false;
  for (std::uint32_t v = 0; v < kSides; ++v) {
    Samples d;
    if (!d.deserialize(in)) return false;
    if (step_key != step_key_) continue;  // another step's data: the new step starts without it
    step_.latency[v].merge(d);
    for (Stretch& b : blocks_) b.latency[v].merge(d);
  }
  return true;
}

std::size_t DecisionEngine::heap_bytes() const {
  std::size_t n = srm_.heap_bytes() + (ignored_.capacity() + comparable_.capacity()) / 8 + interval_users_.heap_bytes();
  const auto stretch = [&n](const Stretch& s) {
    for (const Samples& l : s.latency) n += l.heap_bytes();
    n += s.endpoint_baseline.capacity() * sizeof(WindowCounts) + s.users.heap_bytes();
  };
  stretch(step_);
  for (const Stretch& b : blocks_) stretch(b);
  for (std::uint32_t v = 0; v < kSides; ++v)
    n += pending_[v].capacity() * sizeof(double) + interval_[v].heap_bytes() +
         (step_timed_[v].capacity() + step_slow_[v].capacity()) * sizeof(std::uint64_t);
  return n;
}

}  // namespace canary
