// SPDX-License-Identifier: Apache-2.0
// One interval of the fleet leader's work, apart from etcd: pull every host's new intervals, merge
// them (merge_state.hpp), and judge each scope with the single-host engine's rules (judge.hpp).
// The controller wraps it with the election, the config and the writes; canary-bench runs it
// against in-process hosts to measure what an interval costs per fleet size.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "canary/decision/judge.hpp"
#include "canary/decision/policy.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/fleet/merge_state.hpp"

namespace canary::fleet {

// A registered host, as its key in etcd says.
struct HostRef {
  std::string id, region, url;
  std::uint64_t applied_generation = 0;
};

struct PullOptions {
  std::chrono::milliseconds timeout{800};
  std::string token;    // the hosts' admin token
  std::string ca_file;  // https hosts: trust this bundle
  std::size_t parallel = 64;  // requests in flight at once
};

struct PullResult {
  bool ok = false;
  std::string error;
  std::vector<HostInterval> intervals;
};

// Each host's intervals after its cursor in `state`, some hosts at a time.
std::vector<PullResult> pull_hosts(const std::vector<HostRef>& hosts, const MergeState& state, const PullOptions& options);

struct HostView {
  std::string id, region, url;
  bool alive = false;         // registered (its lease is live)
  bool data_missing = false;  // the last pull failed
  std::string last_error;
  std::uint64_t applied_generation = 0;
  IntervalId last;
  double lag_s = 0;  // since the newest interval merged from it
  WindowCounts totals[kFleetSides];
};

struct ScopeView {
  std::string scope;  // a region, or "fleet"
  std::uint32_t share_bp = 0;
  bool judged = false;
  Judgement judgement;
  std::uint64_t sequence = 1;
  std::uint64_t gate_held_ms = 0;
  WindowCounts step[kFleetSides], total[kFleetSides];
  double p95_ms[kFleetSides] = {}, p99_ms[kFleetSides] = {};
  std::vector<std::string> hosts, missing;  // the hosts its data rests on, and those it lacks
};

// What one interval found: each scope's view (regions by name, "" for the fleet), and the scopes
// the candidate serves in (judged; the fleet last).
struct Round {
  std::map<std::string, ScopeView> scopes;
  std::vector<std::string> serving;
};

// The steps as `config` has them now, the pulls merged into them, every serving scope judged
// (alpha split among them), each scope's gate-held time updated: `elapsed_ms` is the time since
// this leader's previous round on its monotonic clock (0 on its first), added while the gate holds.
Round merge_and_judge(MergeState& state, const FleetConfig& config, const Policy& policy, const std::vector<HostRef>& hosts,
                      std::vector<PullResult>& pulls, std::uint64_t elapsed_ms);

// A scope's step as the judge's evidence (side 0 the baseline, side 1 the candidate).
Evidence step_evidence(Stretch& step, const Policy& policy);

// What a step is keyed by: a change of any share (or a new rollout) restarts the fleet's step.
std::string shares_key(const FleetConfig& c);

}  // namespace canary::fleet
