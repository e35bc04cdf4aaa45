// SPDX-License-Identifier: Apache-2.0
// Reading and changing a fleet's config and policy in etcd. Every change is a compare-and-swap on
// the config key's mod_revision (a concurrent change makes it read again and re-apply the edit,
// which may then refuse); the controller adds its leadership to the compare, so a deposed leader
// can never write. The commands are SPEC section 5's state machine, applied to the fleet config.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "canary/decision/policy.hpp"
#include "canary/fleet/etcd_client.hpp"
#include "canary/fleet/fleet_config.hpp"

namespace canary::fleet {

struct StoredConfig {
  FleetConfig config;
  std::int64_t mod_revision = 0;  // 0: no config yet
};

class FleetStore {
 public:
  FleetStore(EtcdClient& etcd, std::string_view deployment) : etcd_(&etcd), keys_(deployment) {}
  const Keys& keys() const { return keys_; }

  // The config (a default one, generation 0, when none was written yet).
  Expected<StoredConfig> read_config();
  // Reads, edits, writes with compare-and-swap; again on a concurrent change (at most 10 times).
  // `guard` joins the compare (the leader's key); `also` joins the writes. Errc::refused when the
  // guard failed. Returns the config as written.
  Expected<FleetConfig> update(const std::function<Status(FleetConfig&)>& edit, std::string_view who,
                               const std::vector<Compare>& guard = {}, const std::vector<TxnOp>& also = {});

  // The policy's YAML (empty: none stored, the defaults apply), and its parse.
  Expected<std::string> read_policy_text();
  Expected<Policy> read_policy();
  // Stores a policy (checked first) and copies what hosts need of it into the config.
  Status write_policy(const std::string& yaml, std::string_view who);

 private:
  EtcdClient* etcd_;
  Keys keys_;
};

// The commands, on a config in memory (the state rules of SPEC section 5). Each returns why not.
Status fleet_start(FleetConfig& c, const Policy& p, std::optional<std::uint32_t> share_bp, std::optional<std::uint64_t> salt);
Status fleet_promote(FleetConfig& c, bool force);
Status fleet_approve(FleetConfig& c);
Status fleet_rollback(FleetConfig& c, std::string_view reason);
Status fleet_pause(FleetConfig& c);
Status fleet_resume(FleetConfig& c);
// The share of one region, or of every region (the ramp's waves then start over from it).
Status fleet_set_share(FleetConfig& c, std::uint32_t share_bp, std::optional<std::string> region);
Status fleet_add_endpoint(FleetConfig& c, std::string_view path);
Status fleet_remove_endpoint(FleetConfig& c, std::string_view path);
Status fleet_pin(FleetConfig& c, std::string_view user, std::string_view version);
Status fleet_unpin(FleetConfig& c, std::string_view user);

}  // namespace canary::fleet
