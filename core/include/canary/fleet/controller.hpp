// SPDX-License-Identifier: Apache-2.0
// The fleet controller (canary-fleet, SPEC section 11). Any number run; one leads:
//
//  - election: a leader key bound to the controller's lease, created only if absent; a standby
//    tries again every interval and leads once the old leader's lease lapses (TTL + one interval);
//  - every interval the leader pulls each registered host's new intervals, merges them
//    (merge_state.hpp) into per-region and fleet-wide steps, judges every scope with the decision
//    rules of the single-host engine (judge.hpp), and writes what it decides — a rollback, the next
//    ramp step of the current wave, the next wave, the wait for approval — into the fleet config;
//  - every write compares the leader key's create revision with its own, so a deposed leader can
//    never write; its merged state goes to etcd the same way, every interval, for the next leader.
//
// A host it cannot reach is marked missing for that interval (the decision names the hosts it rests
// on); its counts arrive whole with the next pull that works (they are cumulative).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "canary/decision/judge.hpp"
#include "canary/decision/policy.hpp"
#include "canary/fleet/etcd_client.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/fleet/merge_state.hpp"
#include "canary/fleet/round.hpp"

namespace canary::fleet {

struct ControllerOptions {
  EtcdOptions etcd;
  std::string deployment;
  std::string id;         // this controller, in the leader key
  std::string advertise;  // its admin API, in the leader key (canary-ctl status reads it)
  std::int64_t lease_ttl_s = 5;
  std::uint32_t interval_ms = 1000;
  std::string host_token;  // the hosts' admin token, when they have one
  std::chrono::milliseconds pull_timeout{800};
  // How often the leader writes its merged state to etcd (at most 5 minutes: what hosts keep).
  std::uint64_t checkpoint_ms = 10'000;
};

struct FleetView {
  bool leader = false;
  std::string leader_id;
  std::uint64_t taken_unix_ns = 0;
  FleetConfig config;
  std::int64_t config_revision = 0;
  std::vector<HostView> hosts;
  std::vector<ScopeView> scopes;
  std::uint64_t intervals_merged = 0;
  std::uint64_t intervals_left_out = 0, requests_left_out = 0;  // merged in no step (merge_state.hpp)
  std::uint64_t decisions_written = 0, write_failures = 0, pull_failures = 0;
  std::string last_decision, last_failure;
  double config_lag_s = 0;  // the oldest applied generation's age, among live hosts
};

class FleetController {
 public:
  explicit FleetController(ControllerOptions options);
  // Campaigns, leads or stands by, until `stop`; then gives the leadership up at once.
  void run(const std::atomic<bool>& stop);
  std::shared_ptr<const FleetView> view() const;
  const ControllerOptions& options() const { return options_; }
  // Before run(): where canary-ctl reaches this controller (known once its server listens).
  void set_advertise(std::string url) { options_.advertise = std::move(url); }

 private:
  bool campaign(EtcdClient& etcd);
  // One interval as the leader; false when it is no longer the leader.
  bool lead_once(EtcdClient& etcd);
  Compare guard() const;
  void publish(std::shared_ptr<FleetView> v);

  ControllerOptions options_;
  Keys keys_;
  std::int64_t lease_ = 0;
  std::int64_t leader_revision_ = 0;  // the leader key's create revision while this one leads
  bool state_loaded_ = false;
  std::uint64_t last_checkpoint_ms_ = 0;  // monotonic
  std::uint64_t last_round_ms_ = 0;       // monotonic; 0: the last round was not a whole one
  MergeState state_;
  std::string policy_text_;
  Policy policy_;
  std::uint64_t decisions_written_ = 0, write_failures_ = 0, pull_failures_ = 0;
  std::string last_decision_, last_failure_;
  std::map<std::uint64_t, std::uint64_t> generation_seen_ms_;  // config generation -> when seen first (monotonic)
  mutable std::mutex view_mutex_;
  std::shared_ptr<const FleetView> view_;
};

}  // namespace canary::fleet
