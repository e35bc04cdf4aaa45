// SPDX-License-Identifier: Apache-2.0
// The deployment's state machine, SPEC section 5's table: each command checks the current state,
// edits the config, and says which event it makes. canary-ctl, the admin API and the aggregator's
// decisions all go through these, inside update_config(), so a refused command changes nothing.
// Each acts on one candidate version (SPEC section 10: every candidate has its own state), the
// first by default, and names it in the event.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "canary/events.hpp"
#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {

struct StartOptions {
  std::optional<std::uint32_t> share_bp;  // default: the first ramp step, else 5%
  std::optional<std::uint64_t> salt;      // a new salt reshuffles users for the new rollout
  // The baseline the rollout is judged against: by default the version another candidate's
  // promotion left serving everyone, else the current one. Only those two can be named.
  std::optional<std::uint32_t> baseline;
};

// any -> running: a new rollout; the `all` window and the step start now. After another
// candidate's promotion, that candidate becomes the baseline (SPEC section 10) and the old
// baseline a rolled-back candidate; with options.baseline naming the old baseline instead, every
// user goes back to it.
Status start_rollout(ConfigData& c, const StartOptions& options, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// running -> promoted (share 100%) when the gate holds, or with force; inconclusive -> promoted
// with force only. Every other candidate is rolled back, "superseded by NAME".
Status promote(ConfigData& c, bool force, bool gate_holds, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// running and awaiting approval -> promoted.
Status approve(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// running, paused or inconclusive -> rolled_back (share 0%); a blue-green switch to it ends too.
Status roll_back(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// running -> paused: the ramp stops; triggers still roll back.
Status pause(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// paused -> running.
Status resume(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// running or paused: a share set by hand (refused once rolled back or promoted).
Status set_share_by_hand(ConfigData& c, std::uint32_t share_bp, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);

// The aggregator's own steps.
// The first ramp step above the current share, if any.
std::optional<std::uint32_t> next_ramp_step(const ConfigData& c, std::uint32_t candidate = kFirstCandidate);
Status take_ramp_step(ConfigData& c, std::uint32_t share_bp, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
Status await_approval(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
// running -> inconclusive: the step did not pass within gate.max_step_duration.
Status mark_inconclusive(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);

// The sample-ratio flag: set by the aggregator's test (running, paused or inconclusive), cleared
// by a person; `start` clears it too. While set, ramp steps and promotion (but for --force) wait.
Status flag_srm(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);
Status clear_srm(ConfigData& c, std::string_view reason, EventDraft& event,
    std::uint32_t candidate = kFirstCandidate);

// Writes the policy's ramp, approval rule and fail-safe into the config, where canary-ctl start
// and the workers read them.
void adopt_policy_settings(ConfigData& c, const std::uint32_t* steps_bp, std::size_t steps, bool require_approval,
                           std::uint32_t fail_safe_after_ms);

}  // namespace canary
