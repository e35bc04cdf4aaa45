// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/controller.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "canary/clock.hpp"
#include "canary/fleet/fleet_store.hpp"
#include "canary/http/client.hpp"
#include "canary/latency_sketch.hpp"
#include "canary/log.hpp"

namespace canary::fleet {

using json = nlohmann::json;

namespace {

constexpr std::size_t kParallelPulls = 16;

std::vector<HostRef> registrations(const RangeResult& r, const Keys& keys) {
  std::vector<HostRef> out;
  for (const KeyValue& kv : r.kvs) {
    const json j = json::parse(kv.value, nullptr, false);
    if (!j.is_object()) continue;
    HostRef reg;
    reg.id = kv.key.substr(keys.hosts().size());
    reg.region = j.value("region", std::string());
    reg.url = j.value("url", std::string());
    reg.applied_generation = j.value("applied_generation", std::uint64_t{0});
    if (fleet_name_problem("host", reg.id).empty() && fleet_name_problem("region", reg.region).empty()) out.push_back(reg);
  }
  return out;
}

// The index of the ramp step a share is at (the first step at or above it).
std::size_t step_index(const Policy& p, std::uint32_t share) {
  for (std::size_t i = 0; i < p.ramp.steps_bp.size(); ++i)
    if (p.ramp.steps_bp[i] >= share) return i;
  return p.ramp.steps_bp.empty() ? 0 : p.ramp.steps_bp.size() - 1;
}

}  // namespace

FleetController::FleetController(ControllerOptions options) : options_(std::move(options)), keys_(options_.deployment) {}

Compare FleetController::guard() const {
  return {keys_.leader(), Compare::Target::create, Compare::Result::equal, leader_revision_, {}};
}

std::shared_ptr<const FleetView> FleetController::view() const {
  std::lock_guard lock(view_mutex_);
  return view_;
}

void FleetController::publish(std::shared_ptr<FleetView> v) {
  std::lock_guard lock(view_mutex_);
  view_ = std::move(v);
}

bool FleetController::campaign(EtcdClient& etcd) {
  if (lease_ != 0 && etcd.keep_alive(lease_).code() == Errc::missing) lease_ = 0;
  if (lease_ == 0) {
    auto granted = etcd.grant(options_.lease_ttl_s);
    if (!granted) return false;
    lease_ = *granted;
  }
  const std::string me = json{{"id", options_.id}, {"url", options_.advertise}}.dump();
  auto r = etcd.txn({{keys_.leader(), Compare::Target::create, Compare::Result::equal, 0, {}}},
                    {TxnOp::put(keys_.leader(), me, lease_)}, {TxnOp::range(keys_.leader())});
  if (!r || !r->succeeded) {
    auto v = std::make_shared<FleetView>();
    v->taken_unix_ns = unix_now_ns();
    if (r && !r->ranges.empty() && !r->ranges[0].kvs.empty())
      v->leader_id = json::parse(r->ranges[0].kvs[0].value, nullptr, false).value("id", std::string());
    publish(std::move(v));
    return false;
  }
  leader_revision_ = r->revision;
  state_loaded_ = false;
  last_checkpoint_ms_ = 0;
  last_round_ms_ = 0;
  log(LogLevel::info, "leading the fleet", {{"deployment", options_.deployment}, {"controller", options_.id}});
  return true;
}

void FleetController::run(const std::atomic<bool>& stop) {
  EtcdClient etcd(options_.etcd);
  const auto interval = std::chrono::milliseconds(options_.interval_ms);
  auto next = std::chrono::steady_clock::now();
  while (!stop.load()) {
    if (leader_revision_ == 0) {
      campaign(etcd);
    } else if (!lead_once(etcd)) {
      log(LogLevel::warn, "no longer leading the fleet", {{"deployment", options_.deployment}, {"controller", options_.id}});
      leader_revision_ = 0;
    }
    next += interval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    while (!stop.load() && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (lease_ != 0) (void)etcd.revoke(lease_);  // a standby takes over now, not after the TTL
}

bool FleetController::lead_once(EtcdClient& etcd) {
  if (Status s = etcd.keep_alive(lease_); s.code() == Errc::missing) {
    lease_ = 0;
    return false;
  }
  if (!state_loaded_) {
    auto saved = etcd.get(keys_.state());
    if (!saved) return true;  // etcd away: nothing can be written either; try again
    if (saved->kvs.empty()) {
      state_ = MergeState{};
    } else {
      auto restored = MergeState::deserialize(saved->kvs.front().value);
      if (!restored) {
        log(LogLevel::error, "the fleet checkpoint is unreadable: starting from empty steps (each host's data counts from its second interval read)",
            {{"deployment", options_.deployment}, {"error", restored.status().message()}});
        state_ = MergeState{};
      } else {
        state_ = std::move(*restored);
      }
    }
    state_loaded_ = true;
  }

  FleetStore store(etcd, options_.deployment);
  auto stored = store.read_config();
  auto policy_text = store.read_policy_text();
  auto hosts_range = etcd.get_prefix(keys_.hosts());
  if (!stored || !policy_text || !hosts_range) {
    last_round_ms_ = 0;  // time not judged is not time the gate held
    return true;
  }
  if (*policy_text != policy_text_) {
    auto parsed = policy_text->empty() ? Expected<Policy>(Policy{}) : parse_policy(*policy_text, keys_.policy());
    if (parsed) {
      policy_ = *parsed;
      policy_text_ = *policy_text;
    } else {
      log(LogLevel::error, "the fleet policy in etcd is refused; the previous one stays",
          {{"deployment", options_.deployment}, {"error", parsed.status().message()}});
    }
  }
  const FleetConfig& cfg = stored->config;
  const std::uint64_t now_ns = unix_now_ns();
  // Durations on this machine's monotonic clock only: a wall clock may step, and a takeover
  // carries the gate's held time as an elapsed sum in the checkpoint.
  const std::uint64_t round_ms = monotonic_ms();
  const std::uint64_t elapsed_ms = last_round_ms_ == 0 ? 0 : round_ms - last_round_ms_;
  last_round_ms_ = round_ms;
  generation_seen_ms_.try_emplace(cfg.generation, round_ms);

  const std::vector<HostRef> hosts = registrations(*hosts_range, keys_);
  PullOptions pulling;
  pulling.timeout = options_.pull_timeout;
  pulling.token = options_.host_token;
  pulling.ca_file = options_.etcd.ca_file;
  std::vector<PullResult> pulls = pull_hosts(hosts, state_, pulling);
  for (const PullResult& p : pulls) pull_failures_ += p.ok ? 0 : 1;
  Round round = merge_and_judge(state_, cfg, policy_, hosts, pulls, elapsed_ms);
  std::map<std::string, ScopeView>& judged = round.scopes;
  const bool serving = !round.serving.empty();
  auto v = std::make_shared<FleetView>();
  v->leader = true;
  v->leader_id = options_.id;
  v->taken_unix_ns = now_ns;

  // Act: a proven trigger first, then the ramp.
  const std::string who = "canary-fleet " + options_.id;
  bool deposed = false;
  auto write = [&](const std::function<Status(FleetConfig&)>& edit, const std::string& what) {
    // The decision and its entry in the fleet's event log go in one transaction.
    char key[32];
    std::snprintf(key, sizeof key, "%020llu", static_cast<unsigned long long>(unix_now_ns()));
    const std::string event = json{{"unix_ns", unix_now_ns()}, {"by", who}, {"decision", what}}.dump();
    auto written = store.update(edit, who, {guard()}, {TxnOp::put(keys_.events() + key, event)});
    if (written) {
      ++decisions_written_;
      last_decision_ = what;
      log(LogLevel::warn, "fleet decision", {{"deployment", options_.deployment}, {"decision", what},
                                              {"generation", written->generation}});
      return;
    }
    if (written.status().code() == Errc::refused && written.status().message().find("no longer leads") != std::string::npos) deposed = true;
    ++write_failures_;
    last_failure_ = written.status().message();
    log(LogLevel::error, "fleet decision not written", {{"deployment", options_.deployment}, {"decision", what},
                                                        {"error", last_failure_}});
  };
  auto hosts_text = [&](const std::string& scope) {
    std::string t;
    for (const std::string& h : judged[scope].hosts) t += (t.empty() ? "" : ",") + h;
    if (!judged[scope].missing.empty()) {
      t += "; missing";
      for (const std::string& h : judged[scope].missing) t += " " + h;
    }
    return t;
  };
  bool acted = false;
  for (auto& [scope, sv] : judged) {
    const Check* trigger = sv.judged && sv.judgement.rollback ? sv.judgement.first_trigger() : nullptr;
    if (trigger == nullptr || acted) continue;
    // rollback.scope: region rolls back the regions whose own evidence proved a trigger; the
    // fleet's pooled proof alone rolls back nothing (it still holds every ramp: its gate fails).
    if (scope.empty() && policy_.fleet.rollback_scope == FleetPolicy::Scope::region) continue;
    const std::string where = scope.empty() ? "the fleet" : "region " + scope;
    const std::string reason = "fleet: " + trigger->name + " proven in " + where + " (hosts " + hosts_text(scope) + ")";
    if (scope.empty() || policy_.fleet.rollback_scope == FleetPolicy::Scope::fleet) {
      write([&](FleetConfig& c) { return fleet_rollback(c, reason); }, "rolled back: " + reason);
    } else {
      write([&](FleetConfig& c) {
        if (std::find(c.regions_rolled_back.begin(), c.regions_rolled_back.end(), scope) != c.regions_rolled_back.end())
          return Status{Errc::refused, "already rolled back"};
        c.regions_rolled_back.push_back(scope);
        c.reason = reason;
        return Status::Ok();
      }, "region rolled back: " + reason);
    }
    acted = true;
  }
  if (!acted && cfg.state == DeploymentState::running && !cfg.awaiting_approval && serving) {
    // The wave being rolled out: the policy's, or every region at once.
    const bool waves = !policy_.fleet.waves.empty();
    const std::size_t wave = std::min<std::size_t>(cfg.wave, waves ? policy_.fleet.waves.size() - 1 : 0);
    const bool last_wave = !waves || wave + 1 >= policy_.fleet.waves.size();
    std::vector<std::string> members;
    if (waves) {
      for (const std::string& r : policy_.fleet.waves[wave].regions)
        if (std::find(cfg.regions_rolled_back.begin(), cfg.regions_rolled_back.end(), r) == cfg.regions_rolled_back.end())
          members.push_back(r);
    } else {
      members = round.serving;
      members.pop_back();  // the fleet scope
    }
    const std::uint32_t hold_at = waves ? policy_.fleet.waves[wave].hold_at_bp : kMaxShareBp;
    std::uint32_t current = kMaxShareBp;
    for (const std::string& r : members) current = std::min(current, cfg.share_for(r));
    const std::uint64_t bake_ms = policy_.ramp.bake_for(step_index(policy_, current));
    auto baked = [&](const std::string& scope) {
      const ScopeView& sv = judged[scope];
      return sv.judged && sv.judgement.gate_holds && sv.gate_held_ms >= bake_ms;
    };
    // A region at 100% has no baseline traffic left to compare with: its triggers still watch it,
    // and the fleet's gate (with the other regions' baseline) decides.
    bool ready = !members.empty() && baked("");
    for (const std::string& r : members) ready = ready && (cfg.share_for(r) >= kMaxShareBp || baked(r));
    if (ready) {
      std::optional<std::uint32_t> next;
      for (std::uint32_t s : policy_.ramp.steps_bp)
        if (s > current) {
          next = std::min(s, hold_at);
          break;
        }
      if (current < hold_at && !next) next = hold_at;
      const std::string judged_key = shares_key(cfg);
      if (next && current < hold_at) {
        if (*next == kMaxShareBp && last_wave && policy_.ramp.require_approval) {
          write([&](FleetConfig& c) {
            if (shares_key(c) != judged_key) return Status{Errc::refused, "the shares moved meanwhile"};
            c.awaiting_approval = true;
            c.reason = "the gate held: 100% waits for approve";
            return Status::Ok();
          }, "awaiting approval");
        } else {
          const std::uint32_t to = *next;
          write([&](FleetConfig& c) {
            if (shares_key(c) != judged_key) return Status{Errc::refused, "the shares moved meanwhile"};
            if (waves) {
              for (const std::string& r : members) {
                c.shares[r] = to;
                c.step_started_unix_ns[r] = unix_now_ns();
              }
            } else {
              c.share_bp = to;
              c.shares.clear();
            }
            c.reason = "ramp step: the gate held for the bake time";
            return Status::Ok();
          }, "ramp step to " + std::to_string(to / 100.0) + "% in wave " + std::to_string(wave));
        }
      } else if (!last_wave) {
        const std::uint32_t first = policy_.ramp.steps_bp.empty() ? 500 : policy_.ramp.steps_bp.front();
        const WavePolicy& upcoming = policy_.fleet.waves[wave + 1];
        write([&](FleetConfig& c) {
          if (shares_key(c) != judged_key || c.wave != wave) return Status{Errc::refused, "the shares moved meanwhile"};
          c.wave = static_cast<std::uint32_t>(wave + 1);
          for (const std::string& r : upcoming.regions) {
            c.shares[r] = std::min(first, upcoming.hold_at_bp);
            c.step_started_unix_ns[r] = unix_now_ns();
          }
          c.reason = "wave " + std::to_string(wave) + " held: wave " + std::to_string(wave + 1) + " starts";
          return Status::Ok();
        }, "wave " + std::to_string(wave + 1) + " starts");
      } else if (current >= kMaxShareBp) {
        write([&](FleetConfig& c) {
          if (shares_key(c) != judged_key) return Status{Errc::refused, "the shares moved meanwhile"};
          c.state = DeploymentState::promoted;
          c.reason = "every wave at 100% with the gate held";
          return Status::Ok();
        }, "promoted");
      }
    }
  }
  if (deposed) return false;

  // The merged state for the next leader, only while this one leads; every checkpoint_ms, not every
  // interval: each write is a new revision etcd keeps until it compacts, and a leader that resumes
  // from an older state pulls the intervals since again (hosts keep 5 minutes), counting each once.
  const std::uint64_t now_ms = monotonic_ms();
  if (last_checkpoint_ms_ == 0 || now_ms - last_checkpoint_ms_ >= options_.checkpoint_ms) {
    auto saved = etcd.txn({guard()}, {TxnOp::put(keys_.state(), state_.serialize())});
    if (saved && !saved->succeeded) return false;
    if (saved) {
      last_checkpoint_ms_ = now_ms;
    } else {
      ++write_failures_;
      last_failure_ = "checkpoint: " + saved.status().message();
    }
  }

  // What the admin API shows.
  auto refreshed = store.read_config();
  v->config = refreshed ? refreshed->config : cfg;
  v->config_revision = refreshed ? refreshed->mod_revision : stored->mod_revision;
  generation_seen_ms_.try_emplace(v->config.generation, monotonic_ms());
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    HostView h;
    h.id = hosts[i].id;
    h.region = hosts[i].region;
    h.url = hosts[i].url;
    h.alive = true;
    h.data_missing = !pulls[i].ok;
    h.last_error = pulls[i].error;
    h.applied_generation = hosts[i].applied_generation;
    if (const auto it = state_.hosts.find(h.id); it != state_.hosts.end()) {
      h.last = it->second.last;
      for (std::uint32_t s = 0; s < kFleetSides; ++s) h.totals[s] = it->second.cumulative[s];
    }
    if (!pulls[i].intervals.empty())
      h.lag_s = static_cast<double>(now_ns - std::min(now_ns, pulls[i].intervals.back().unix_ns)) / 1e9;
    if (h.applied_generation < v->config.generation) {
      const auto seen = generation_seen_ms_.upper_bound(h.applied_generation);
      if (seen != generation_seen_ms_.end())
        v->config_lag_s = std::max(v->config_lag_s, static_cast<double>(monotonic_ms() - seen->second) / 1e3);
    }
    v->hosts.push_back(std::move(h));
  }
  while (generation_seen_ms_.size() > 1000) generation_seen_ms_.erase(generation_seen_ms_.begin());
  for (auto& [scope, sv] : judged) v->scopes.push_back(std::move(sv));
  v->intervals_merged = state_.intervals_merged;
  v->intervals_left_out = state_.intervals_left_out;
  v->requests_left_out = state_.requests_left_out;
  v->decisions_written = decisions_written_;
  v->write_failures = write_failures_;
  v->pull_failures = pull_failures_;
  v->last_decision = last_decision_;
  v->last_failure = last_failure_;
  publish(std::move(v));
  return true;
}

}  // namespace canary::fleet
