// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/fleet_store.hpp"

#include <algorithm>

#include "canary/clock.hpp"
#include "canary/config_edit.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/versions.hpp"

namespace canary::fleet {

namespace {

Status refused(std::string why) { return {Errc::refused, std::move(why)}; }

std::string state_name(const FleetConfig& c) { return std::string(to_string(c.state)); }

// Every region's share to `bp` (shares by region dropped), the step starting now.
void share_everywhere(FleetConfig& c, std::uint32_t bp) {
  c.share_bp = bp;
  c.shares.clear();
  c.step_started_unix_ns.clear();
  c.step_started_unix_ns[""] = unix_now_ns();
}

}  // namespace

Expected<StoredConfig> FleetStore::read_config() {
  auto r = etcd_->get(keys_.config());
  if (!r) return r.status();
  StoredConfig out;
  if (r->kvs.empty()) return out;
  auto parsed = parse_fleet_config(r->kvs.front().value);
  if (!parsed) return parsed.status();
  out.config = std::move(*parsed);
  out.mod_revision = r->kvs.front().mod_revision;
  return out;
}

Expected<FleetConfig> FleetStore::update(const std::function<Status(FleetConfig&)>& edit, std::string_view who,
                                         const std::vector<Compare>& guard, const std::vector<TxnOp>& also) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto now = read_config();
    if (!now) return now.status();
    FleetConfig next = now->config;
    if (Status s = edit(next); !s.ok()) return s;
    ++next.generation;
    next.changed_by = std::string(who);
    std::vector<Compare> compares = guard;
    // Unchanged since read (mod_revision 0: still absent).
    compares.push_back({keys_.config(), Compare::Target::mod, Compare::Result::equal, now->mod_revision, {}});
    std::vector<TxnOp> writes = also;
    writes.push_back(TxnOp::put(keys_.config(), to_json(next)));
    auto done = etcd_->txn(compares, writes);
    if (!done) return done.status();
    if (done->succeeded) return next;
    // Either the config moved on (read again) or the guard failed (stop).
    if (!guard.empty()) {
      auto check = etcd_->txn(guard, {});
      if (check && !check->succeeded) return Status{Errc::refused, "not written: this controller no longer leads"};
    }
  }
  return Status{Errc::busy, "the fleet config kept changing under this command; try again"};
}

Expected<std::string> FleetStore::read_policy_text() {
  auto r = etcd_->get(keys_.policy());
  if (!r) return r.status();
  return r->kvs.empty() ? std::string() : r->kvs.front().value;
}

Expected<Policy> FleetStore::read_policy() {
  auto text = read_policy_text();
  if (!text) return text.status();
  if (text->empty()) return Policy{};
  return parse_policy(*text, keys_.policy());
}

Status FleetStore::write_policy(const std::string& yaml, std::string_view who) {
  auto policy = parse_policy(yaml, "the policy");
  if (!policy) return policy.status();
  const std::uint64_t lost = policy->fleet.etcd_lost_legacy_after_ms;
  auto written = update([lost](FleetConfig& c) {
    c.etcd_lost_legacy_ms = lost;
    return Status::Ok();
  }, who, {}, {TxnOp::put(keys_.policy(), yaml)});
  return written ? Status::Ok() : written.status();
}

Status fleet_start(FleetConfig& c, const Policy& p, std::optional<std::uint32_t> share_bp, std::optional<std::uint64_t> salt) {
  if (share_bp && *share_bp > kMaxShareBp) return {Errc::invalid_argument, "the share must be 0 to 100%"};
  const std::uint32_t first = share_bp.value_or(p.ramp.steps_bp.empty() ? 500 : p.ramp.steps_bp.front());
  c.state = DeploymentState::running;
  c.reason = "started";
  c.rollout_unix_ns = unix_now_ns();
  c.wave = 0;
  c.awaiting_approval = false;
  c.approved = false;
  c.regions_rolled_back.clear();
  if (salt) c.salt = *salt;
  if (p.fleet.waves.empty()) {
    share_everywhere(c, first);
  } else {
    // The first wave's regions start; every other region stays at 0 until its wave.
    share_everywhere(c, 0);
    for (const std::string& r : p.fleet.waves.front().regions) {
      c.shares[r] = std::min(first, p.fleet.waves.front().hold_at_bp);
      c.step_started_unix_ns[r] = unix_now_ns();
    }
  }
  return Status::Ok();
}

Status fleet_promote(FleetConfig& c, bool force) {
  if (c.state == DeploymentState::running && (force || c.awaiting_approval)) {
  } else if (c.state == DeploymentState::inconclusive && force) {
  } else if (c.state == DeploymentState::running) {
    return refused("the fleet's gate decides the ramp: promote waits for the last step, or needs --force");
  } else {
    return refused("cannot promote a deployment that is " + state_name(c) + (c.state == DeploymentState::inconclusive ? " without --force" : ""));
  }
  c.state = DeploymentState::promoted;
  c.reason = force ? "promoted by hand (forced)" : "promoted by hand";
  c.awaiting_approval = false;
  c.regions_rolled_back.clear();
  share_everywhere(c, kMaxShareBp);
  return Status::Ok();
}

Status fleet_approve(FleetConfig& c) {
  if (c.state != DeploymentState::running || !c.awaiting_approval)
    return refused("nothing awaits approval (the deployment is " + state_name(c) + ")");
  c.state = DeploymentState::promoted;
  c.reason = "approved";
  c.awaiting_approval = false;
  c.approved = true;
  c.regions_rolled_back.clear();
  share_everywhere(c, kMaxShareBp);
  return Status::Ok();
}

Status fleet_rollback(FleetConfig& c, std::string_view reason) {
  if (c.state != DeploymentState::running && c.state != DeploymentState::paused && c.state != DeploymentState::inconclusive)
    return refused("cannot roll back a deployment that is " + state_name(c));
  c.state = DeploymentState::rolled_back;
  c.reason = std::string(reason);
  c.awaiting_approval = false;
  share_everywhere(c, 0);
  return Status::Ok();
}

Status fleet_pause(FleetConfig& c) {
  if (c.state != DeploymentState::running) return refused("cannot pause a deployment that is " + state_name(c));
  c.state = DeploymentState::paused;
  c.reason = "paused by hand";
  return Status::Ok();
}

Status fleet_resume(FleetConfig& c) {
  if (c.state != DeploymentState::paused) return refused("cannot resume a deployment that is " + state_name(c));
  c.state = DeploymentState::running;
  c.reason = "resumed by hand";
  return Status::Ok();
}

Status fleet_set_share(FleetConfig& c, std::uint32_t share_bp, std::optional<std::string> region) {
  if (share_bp > kMaxShareBp) return {Errc::invalid_argument, "the share must be 0 to 100%"};
  if (c.state != DeploymentState::running && c.state != DeploymentState::paused)
    return refused("cannot change the share of a deployment that is " + state_name(c) + " (start a new rollout)");
  if (region) {
    if (std::string why = fleet_name_problem("--region", *region); !why.empty()) return {Errc::invalid_argument, why};
    c.shares[*region] = share_bp;
    c.step_started_unix_ns[*region] = unix_now_ns();
    std::erase(c.regions_rolled_back, *region);
  } else {
    share_everywhere(c, share_bp);
  }
  return Status::Ok();
}

Status fleet_add_endpoint(FleetConfig& c, std::string_view path) {
  auto normalized = normalize_template(path);
  if (!normalized) return normalized.status();
  const std::string p = *normalized;
  if (std::find(c.endpoints.begin(), c.endpoints.end(), p) == c.endpoints.end()) c.endpoints.push_back(p);
  std::erase(c.endpoints_off, p);
  return Status::Ok();
}

Status fleet_remove_endpoint(FleetConfig& c, std::string_view path) {
  auto normalized = normalize_template(path);
  if (!normalized) return normalized.status();
  const std::string p = *normalized;
  if (std::find(c.endpoints_off.begin(), c.endpoints_off.end(), p) == c.endpoints_off.end()) c.endpoints_off.push_back(p);
  return Status::Ok();
}

Status fleet_pin(FleetConfig& c, std::string_view user, std::string_view version) {
  if (std::string why = user_id_problem(user); !why.empty()) return {Errc::invalid_argument, why};
  if (std::string why = version_name_problem(version); !why.empty()) return {Errc::invalid_argument, why};
  if (version != "legacy" && version != c.candidate)
    return {Errc::invalid_argument, "a fleet has two versions: legacy and " + c.candidate};
  c.pins[std::string(user)] = std::string(version);
  return Status::Ok();
}

Status fleet_unpin(FleetConfig& c, std::string_view user) {
  if (c.pins.erase(std::string(user)) == 0) return {Errc::invalid_argument, "user '" + std::string(user.substr(0, 40)) + "' is not pinned"};
  return Status::Ok();
}

}  // namespace canary::fleet
