// SPDX-License-Identifier: Apache-2.0
// The decisions as people and scripts read them: the status call, events in JSON lines, webhooks.
#pragma once

#include <nlohmann/json.hpp>

#include "canary/decision/engine.hpp"
#include "canary/events.hpp"

namespace canary::report {

nlohmann::json check_json(const Check& c);

// {"judged", "gate_holds", "rollback_proven", "gate": [...], "triggers": [...], "step": {...}, ...}
nlohmann::json decision_json(const DecisionStatus& d);
// SPEC section 10's `srm` object: detected, observed, expected, requests (and where, how sure).
nlohmann::json srm_json(const SrmStatus& s, bool flagged);

// {"seq", "time", "kind", "from", "to", "share_before", "share_after", "actor", "reason", "details", ...}
nlohmann::json event_json(const Event& e);

// One line for people: "rolled_back 5% -> 0% by ...: reason".
std::string event_line(const Event& e);

}  // namespace canary::report
