// SPDX-License-Identifier: Apache-2.0
// A host's side of fleet mode (SPEC section 11), run inside canary-aggregator with --etcd:
//
//  - registers the host under a lease (hosts/HOST_ID: region, the URL the controller pulls from,
//    layout version, applied generation) and keeps the lease alive;
//  - watches the fleet config and applies every generation to the local segment (the share of
//    its region), so a change reaches the workers within a second;
//  - keeps the aggregator's last 5 minutes of intervals for the controller to pull.
//
// When etcd cannot be reached the host keeps its last config (fail-static) and says so
// (connected false, SummaryData::fleet_state 2); with the policy's fleet.etcd_lost:
// legacy_after D it disables routing after D instead. When etcd answers again it re-reads the
// config at the current revision and watches from there.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "canary/aggregator.hpp"
#include "canary/fleet/etcd_client.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/fleet/host_interval.hpp"

namespace canary {
class Segment;
}

namespace canary::fleet {

struct HostOptions {
  EtcdOptions etcd;
  std::string deployment, host_id, region;
  std::string advertise;         // the URL the controller pulls from: http://HOST:PORT
  std::int64_t lease_ttl_s = 5;
  std::uint32_t interval_ms = 1000;
};

struct HostFleetStatus {
  bool connected = false;
  bool routing_disabled_for_etcd_loss = false;
  std::uint64_t applied_generation = 0;
  std::uint64_t disconnected_ms = 0;  // how long etcd has been unreachable (0: connected)
  std::uint64_t etcd_errors = 0, apply_failures = 0;
  std::string last_error;
  IntervalId newest;
};

class HostAgent {
 public:
  // Checks the options, applies the current fleet config (when etcd answers: a host that cannot
  // reach it starts with its segment as it is and keeps trying), registers, and starts watching.
  static Expected<std::unique_ptr<HostAgent>> start(Segment& segment, Aggregator& aggregator, HostOptions options);
  ~HostAgent();
  HostAgent(const HostAgent&) = delete;
  HostAgent& operator=(const HostAgent&) = delete;

  // The retained intervals after `after`, encoded (host_interval.hpp).
  std::string intervals_after(const IntervalId& after) const { return history_.encode_after(after, 1000); }
  HostFleetStatus status() const;
  const HostOptions& options() const { return options_; }

 private:
  HostAgent(Segment& segment, Aggregator& aggregator, HostOptions options);
  void record(IntervalData& d);
  void keep_registered();  // thread: lease and registration
  void follow_config();    // thread: read, watch, apply
  // Applies one fleet config (a new generation, or any after a fallback); false when refused.
  bool apply(const std::string& json);
  void set_connected(bool ok, const std::string& error = {});
  std::string registration() const;

  Segment* segment_;
  Aggregator* aggregator_;
  HostOptions options_;
  Keys keys_;
  // Writes the segment's config for the fleet and lets `settle` record what was written
  // (applied_generation_, fell_back_), all between two counts of config_writes_, so an interval
  // that saw any part of it knows (HostInterval::fleet_flags).
  Status write_config(const std::string& why, const std::function<Status(ConfigData&)>& edit,
                      const std::function<void(const Status&)>& settle);

  std::uint64_t epoch_;  // this run's random id: names its intervals with the sequence
  std::uint64_t sequence_ = 0;
  std::uint64_t config_writes_seen_ = 0;  // config_writes_ at the last interval (aggregator thread)
  IntervalHistory history_;
  std::atomic<bool> stop_{false};
  // Written by the two threads, read by the admin server's: relaxed, each a value of its own.
  std::atomic<bool> lease_ok_{false}, watch_ok_{false};
  std::atomic<std::uint64_t> applied_generation_{0};
  std::atomic<std::uint64_t> etcd_errors_{0}, apply_failures_{0};
  std::atomic<std::uint64_t> lost_since_ms_{0};  // monotonic ms when etcd stopped answering; 0: it answers
  std::atomic<std::uint64_t> etcd_lost_legacy_ms_{0};
  std::atomic<bool> fell_back_{false};
  // +1 before and +1 after each segment config write by the follower. The interval callback reads
  // it after the drain; acquire/release pair it with the write so that a write that began before
  // the drain's end is seen (relaxed could let a new value show late on another core).
  std::atomic<std::uint64_t> config_writes_{0};
  std::atomic<std::int64_t> lease_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
  std::thread registrar_, follower_;
};

}  // namespace canary::fleet
