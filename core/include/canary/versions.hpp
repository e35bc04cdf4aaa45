// SPDX-License-Identifier: Apache-2.0
// The version table of a config (layout.hpp: VersionEntry) and the bucket allotment behind it:
// names, slots, shares. Every function that changes `c` leaves it untouched when it returns an
// error, like config_edit.hpp's.
//
// The allotment. Each of the 10000 buckets has an owner. A candidate whose share rises takes the
// lowest-numbered buckets the baseline owns; one whose share falls gives back its own
// highest-numbered buckets. A change of one candidate's share therefore moves buckets only between
// it and the baseline: a user's version changes from the baseline to that candidate or back, never
// from one candidate to another, whatever the sequence of changes. With one candidate it owns
// exactly [0, share), the two-version rule `bucket < share` (docs/versions.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/events.hpp"
#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {

// Empty when `name` is 1-31 bytes of [a-z0-9._-], else why not ("WHAT 'x' has ...").
std::string name_problem(std::string_view what, std::string_view name);
std::string version_name_problem(std::string_view name);

std::string_view version_name(const ConfigData& c, std::uint32_t index);
// The index of the version with this name, active or retired.
std::optional<std::uint32_t> find_version(const ConfigData& c, std::string_view name);
// Candidates (every active slot but the baseline's), in index order.
std::vector<std::uint32_t> active_candidates(const ConfigData& c);
// The candidate the two-version keys (canary_percentage, "canary", status' state) describe: the
// first active one still in a rollout (not rolled back or promoted), else the first active one,
// else the first slot that is not the baseline. With two versions: the canary, always.
std::uint32_t first_candidate(const ConfigData& c);
// The baseline's share: what no candidate owns.
std::uint32_t baseline_share(const ConfigData& c);
// The candidate a command without --version means: the only active one, else an error that lists
// them. With a name: that version, which must be an active candidate.
Expected<std::uint32_t> pick_candidate(const ConfigData& c, std::string_view name);

inline bool endpoint_on(const VersionEntry& v, std::uint32_t endpoint) {
  return endpoint < 128 && ((v.endpoints_on[endpoint / 64] >> (endpoint % 64)) & 1) != 0;
}
void set_endpoint_on(VersionEntry& v, std::uint32_t endpoint, bool on);

// Sets a candidate's share, moving buckets between it and the baseline only (see above). Fails
// when the candidates' shares would sum above 100%.
Status allot_share(ConfigData& c, std::uint32_t candidate, std::uint32_t share_bp);
// Every bucket to one version (a promotion); every other candidate's share becomes 0.
void allot_everything(ConfigData& c, std::uint32_t version);
// Why the owners and the shares disagree, or nullptr.
const char* allotment_problem(const ConfigData& c);

// `version add NAME`: a new candidate in the next free slot (or its old slot again, if it was
// retired), running at the share given, on for the endpoints the active candidates are on for
// (every registered one when there are none).
Expected<std::uint32_t> add_version(ConfigData& c, std::string_view name, std::uint32_t share_bp);
// `version remove NAME`: its share must be 0; the slot is retired, its counts stay under its name.
Status remove_version(ConfigData& c, std::string_view name);

// Blue-green (SPEC section 10): every user to `version` at once, pins aside; the allotment stays
// underneath, so switch_back() restores the shares from before. Both versions keep recording.
Status switch_to(ConfigData& c, std::uint32_t version, std::string_view reason, EventDraft& event);
Status switch_back(ConfigData& c, std::string_view reason, EventDraft& event);

}  // namespace canary
