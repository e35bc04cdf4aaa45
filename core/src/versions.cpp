// SPDX-License-Identifier: Apache-2.0
#include "canary/versions.hpp"

#include "canary/clock.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"

namespace canary {

namespace {

Status invalid(std::string message) { return {Errc::invalid_argument, std::move(message)}; }

std::uint32_t candidates_sum(const ConfigData& c) {
  std::uint32_t sum = 0;  // the baseline's share is 0
  for (const VersionEntry& v : c.versions) sum += v.share_bp;
  return sum;
}

std::string names_of(const ConfigData& c, const std::vector<std::uint32_t>& indices) {
  std::string out;
  for (std::uint32_t v : indices) out += (out.empty() ? "" : ", ") + std::string(version_name(c, v));
  return out;
}

}  // namespace

std::string name_problem(std::string_view what, std::string_view name) {
  const auto label = [&] { return std::string(what); };  // built only for a message
  if (name.empty()) return label() + " is empty";
  if (name.size() > kMaxVersionNameBytes)
    return label() + " '" + std::string(name.substr(0, 40)) + "' is " + std::to_string(name.size()) +
           " bytes; the limit is " + std::to_string(kMaxVersionNameBytes);
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return label() + " '" + std::string(name) + "' has a character outside [a-z0-9._-]";
  return {};
}

std::string version_name_problem(std::string_view name) { return name_problem("version name", name); }

std::string_view version_name(const ConfigData& c, std::uint32_t index) {
  return index < kMaxVersions ? text_of(c.versions[index].name) : std::string_view("unknown");
}

std::optional<std::uint32_t> find_version(const ConfigData& c, std::string_view name) {
  for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v)
    if (c.versions[v].slot != kSlotFree && text_of(c.versions[v].name) == name) return v;
  return std::nullopt;
}

std::vector<std::uint32_t> active_candidates(const ConfigData& c) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v)
    if (v != c.baseline && c.versions[v].slot == kSlotActive) out.push_back(v);
  return out;
}

std::uint32_t first_candidate(const ConfigData& c) {
  const std::vector<std::uint32_t> active = active_candidates(c);
  for (std::uint32_t v : active) {  // the first one still in a rollout, else the first one
    const auto state = static_cast<DeploymentState>(c.versions[v].state);
    if (state != DeploymentState::rolled_back && state != DeploymentState::promoted) return v;
  }
  if (!active.empty()) return active.front();
  return c.baseline == kFirstCandidate ? kBaseline : kFirstCandidate;
}

std::uint32_t baseline_share(const ConfigData& c) {
  return kMaxShareBp - std::min(kMaxShareBp, candidates_sum(c));
}

Expected<std::uint32_t> pick_candidate(const ConfigData& c, std::string_view name) {
  const std::vector<std::uint32_t> candidates = active_candidates(c);
  if (name.empty()) {
    if (candidates.size() == 1) return candidates[0];
    if (candidates.empty()) return Status{Errc::refused, "the deployment has no candidate version (version add NAME)"};
    return Status{Errc::invalid_argument, "the deployment has " + std::to_string(candidates.size()) +
                                              " candidates; name one with --version: " + names_of(c, candidates)};
  }
  const auto index = find_version(c, name);
  if (!index) return Status{Errc::invalid_argument, "unknown version '" + std::string(name) + "'"};
  if (*index == c.baseline) return Status{Errc::invalid_argument, "'" + std::string(name) + "' is the baseline, not a candidate"};
  if (c.versions[*index].slot != kSlotActive)
    return Status{Errc::invalid_argument, "version '" + std::string(name) + "' was removed (version add brings it back)"};
  return *index;
}

void set_endpoint_on(VersionEntry& v, std::uint32_t endpoint, bool on) {
  if (endpoint >= 128) return;
  const std::uint64_t bit = std::uint64_t{1} << (endpoint % 64);
  if (on)
    v.endpoints_on[endpoint / 64] |= bit;
  else
    v.endpoints_on[endpoint / 64] &= ~bit;
}

Status allot_share(ConfigData& c, std::uint32_t candidate, std::uint32_t share_bp) {
  if (candidate >= kMaxVersions || candidate == c.baseline) return invalid("not a candidate version");
  if (share_bp > kMaxShareBp) return invalid("share is above 100%");
  VersionEntry& v = c.versions[candidate];
  const std::uint32_t others = candidates_sum(c) - v.share_bp;
  if (others + share_bp > kMaxShareBp)
    return invalid("the candidates' shares would sum to " + format_share_percent(others + share_bp) +
                   "%; at most 100% (lower another candidate first)");
  const auto self = static_cast<std::uint8_t>(candidate);
  const std::uint8_t baseline = c.baseline;
  std::uint32_t owned = v.share_bp;
  // Rising: the lowest baseline buckets. Falling: its own highest buckets back to the baseline.
  for (std::uint32_t b = 0; b < kMaxShareBp && owned < share_bp; ++b)
    if (c.bucket_owner[b] == baseline) c.bucket_owner[b] = self, ++owned;
  for (std::uint32_t b = kMaxShareBp; b-- > 0 && owned > share_bp;)
    if (c.bucket_owner[b] == self) c.bucket_owner[b] = baseline, --owned;
  v.share_bp = share_bp;
  return Status::Ok();
}

void allot_everything(ConfigData& c, std::uint32_t version) {
  for (VersionEntry& v : c.versions) v.share_bp = 0;
  for (std::uint8_t& owner : c.bucket_owner) owner = static_cast<std::uint8_t>(version);
  if (version != c.baseline && version < kMaxVersions) c.versions[version].share_bp = kMaxShareBp;
}

const char* allotment_problem(const ConfigData& c) {
  std::uint32_t owned[kMaxVersions] = {};
  for (std::uint8_t owner : c.bucket_owner) {
    if (owner >= c.version_count) return "a bucket is owned by a version not in the table";
    ++owned[owner];
  }
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    if (v != c.baseline && owned[v] != c.versions[v].share_bp) return "a candidate's share disagrees with the buckets it owns";
  return nullptr;
}

Expected<std::uint32_t> add_version(ConfigData& c, std::string_view name, std::uint32_t share_bp) {
  if (std::string why = version_name_problem(name); !why.empty()) return invalid(why);
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5))
    return Status{Errc::refused, "md5 mode supports one candidate only (set-hash xxh3 first)"};
  std::uint32_t index = c.version_count;
  if (auto existing = find_version(c, name)) {
    if (c.versions[*existing].slot == kSlotActive) return invalid("version '" + std::string(name) + "' already exists");
    index = *existing;  // retired: the same slot, so its counts continue under the same name
  } else if (c.version_count >= kMaxVersions) {
    return Status{Errc::refused, "all " + std::to_string(kMaxVersions - 1) +
                                     " candidate slots of this segment are taken (removed versions keep theirs; "
                                     "bring one back with version add, or build a new segment)"};
  }
  ConfigData next = c;
  VersionEntry& v = next.versions[index];
  const std::vector<std::uint32_t> others = active_candidates(next);
  v = VersionEntry{};
  set_text(v.name, name);
  v.slot = kSlotActive;
  v.state = static_cast<std::uint8_t>(DeploymentState::running);
  v.started_unix_ns = v.step_started_unix_ns = unix_now_ns();
  set_text(v.state_reason, "version added");
  for (std::uint32_t e = 1; e < next.endpoint_count && e < kMaxEndpoints; ++e) {
    bool on = others.empty();
    for (std::uint32_t o : others) on = on || endpoint_on(next.versions[o], e);
    set_endpoint_on(v, e, on);
  }
  if (index == next.version_count) ++next.version_count;
  if (Status s = allot_share(next, index, share_bp); !s.ok()) return s;
  c = next;
  return index;
}

Status remove_version(ConfigData& c, std::string_view name) {
  const auto index = find_version(c, name);
  if (!index) return invalid("unknown version '" + std::string(name) + "'");
  if (*index == c.baseline) return invalid("'" + std::string(name) + "' is the baseline; it cannot be removed");
  VersionEntry& v = c.versions[*index];
  if (v.slot != kSlotActive) return invalid("version '" + std::string(name) + "' is already removed");
  if (v.share_bp != 0)
    return Status{Errc::refused, "version '" + std::string(name) + "' still serves " + format_share_percent(v.share_bp) +
                                     "% of users; set its share to 0 first (set-percentage 0 --version " + std::string(name) + ")"};
  for (std::uint32_t i = 0; i < c.override_count && i < kMaxOverrides; ++i)
    if (c.overrides[i].version == *index)
      return Status{Errc::refused, "users are pinned to '" + std::string(name) + "'; unpin them first"};
  v.slot = kSlotRetired;
  v.endpoints_on[0] = v.endpoints_on[1] = 0;
  set_text(v.state_reason, "version removed");
  return Status::Ok();
}

Status switch_to(ConfigData& c, std::uint32_t version, std::string_view reason, EventDraft& event) {
  if (version >= c.version_count || c.versions[version].slot != kSlotActive)
    return invalid("not an active version");
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5)) return {Errc::refused, "md5 mode cannot switch (set-hash xxh3 first)"};
  if (c.switched && c.switch_to == version) return {Errc::refused, "every user already goes to '" + std::string(version_name(c, version)) + "'"};
  const auto state = static_cast<DeploymentState>(c.versions[version].state);
  if (version != c.baseline && (state == DeploymentState::rolled_back))
    return {Errc::refused, "'" + std::string(version_name(c, version)) + "' is rolled back; start it again first"};
  if (!c.switched) {
    // What served most users before: the baseline, or the candidate that owned the most buckets.
    std::uint32_t from = c.baseline, most = baseline_share(c);
    for (std::uint32_t v = 0; v < kMaxVersions; ++v)
      if (c.versions[v].share_bp > most) from = v, most = c.versions[v].share_bp;
    c.switch_from = static_cast<std::uint8_t>(from);
  }
  c.switched = 1;
  c.switch_to = static_cast<std::uint8_t>(version);
  event.kind = EventKind::switched;
  event.version = version;
  event.reason = reason.empty() ? "switched: every user to " + std::string(version_name(c, version)) : std::string(reason);
  return Status::Ok();
}

Status switch_back(ConfigData& c, std::string_view reason, EventDraft& event) {
  if (!c.switched) return {Errc::refused, "no blue-green switch is on"};
  event.kind = EventKind::switched_back;
  event.version = c.switch_to;
  event.reason = reason.empty() ? "switched back: the shares from before the switch" : std::string(reason);
  c.switched = 0;
  c.switch_to = c.switch_from = 0;
  return Status::Ok();
}

}  // namespace canary
