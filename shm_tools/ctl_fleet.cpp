// SPDX-License-Identifier: Apache-2.0
#include "ctl_fleet.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "canary/config.hpp"
#include "canary/fleet/fleet_store.hpp"
#include "canary/http/client.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "tool_common.hpp"

namespace canary::tools {

namespace {

constexpr std::string_view kTool = "canary-ctl";
using json = nlohmann::json;

Expected<fleet::EtcdClient> client_for(const FleetTarget& t) {
  if (std::string why = fleet::fleet_name_problem("--deployment", t.deployment); !why.empty())
    return Status{Errc::invalid_argument, why};
  auto options = etcd_options(t.etcd);
  if (!options) return options.status();
  options->retry_for = std::chrono::seconds(10);  // rides out an election after a member died
  return fleet::EtcdClient(*options);
}

}  // namespace

int fleet_change(const FleetTarget& target, const std::string& action,
                 const std::function<Status(fleet::FleetConfig&, const Policy&)>& edit) {
  auto etcd = client_for(target);
  if (!etcd) return report_error(kTool, etcd.status());
  fleet::FleetStore store(*etcd, target.deployment);
  auto policy = store.read_policy();
  if (!policy) return report_error(kTool, policy.status());
  auto written = store.update([&](fleet::FleetConfig& c) { return edit(c, *policy); }, who("canary-ctl " + action));
  if (!written) return report_error(kTool, written.status());
  std::cout << action << ": done (fleet '" << target.deployment << "' generation " << written->generation << ")\n";
  return kExitOk;
}

RolloutReader fleet_rollout_reader(const FleetTarget& target) {
  return [target]() -> Expected<RolloutSeen> {
    auto etcd = client_for(target);
    if (!etcd) return etcd.status();
    fleet::FleetStore store(*etcd, target.deployment);
    auto stored = store.read_config();
    if (!stored) return stored.status();
    return RolloutSeen{std::string(to_string(stored->config.state)), stored->config.awaiting_approval};
  };
}

int fleet_policy_set(const FleetTarget& target, const std::string& file) {
  std::ifstream in(file);
  if (!in) return report_error(kTool, {Errc::invalid_argument, "cannot read policy file '" + file + "'"});
  std::stringstream text;
  text << in.rdbuf();
  auto etcd = client_for(target);
  if (!etcd) return report_error(kTool, etcd.status());
  fleet::FleetStore store(*etcd, target.deployment);
  if (Status s = store.write_policy(text.str(), who("canary-ctl policy set")); !s.ok()) return report_error(kTool, s);
  std::cout << "policy set: done (fleet '" << target.deployment << "')\n";
  return kExitOk;
}

int fleet_status(const FleetTarget& target, std::ostream& out) {
  auto etcd = client_for(target);
  if (!etcd) return report_error(kTool, etcd.status());
  fleet::FleetStore store(*etcd, target.deployment);
  auto stored = store.read_config();
  if (!stored) return report_error(kTool, stored.status());
  const fleet::FleetConfig& c = stored->config;
  out << "deployment: " << target.deployment << "\n"
      << "generation: " << c.generation << "\n"
      << "state: " << to_string(c.state) << "\n"
      << "reason: " << c.reason << "\n"
      << "enabled: " << (c.enabled ? "true" : "false") << "\n"
      << "candidate: " << c.candidate << "\n"
      << "share: " << format_share_percent(c.share_bp) << "%\n";
  for (const auto& [region, bp] : c.shares) out << "share." << region << ": " << format_share_percent(c.share_for(region)) << "%\n";
  for (const std::string& r : c.regions_rolled_back) out << "rolled_back_region: " << r << "\n";
  out << "wave: " << c.wave << "\n"
      << "awaiting_approval: " << (c.awaiting_approval ? "true" : "false") << "\n";
  auto leader = etcd->get(store.keys().leader());
  if (!leader) return report_error(kTool, leader.status());
  if (leader->kvs.empty()) {
    out << "leader: none\n";
    return kExitOk;
  }
  const json who_leads = json::parse(leader->kvs.front().value, nullptr, false);
  const std::string url = who_leads.is_object() ? who_leads.value("url", std::string()) : std::string();
  out << "leader: " << (who_leads.is_object() ? who_leads.value("id", std::string("?")) : "?") << " " << url << "\n";
  http::ClientRequest r;
  r.url = url + "/api/v2/admin/canary/fleet";
  r.timeout = std::chrono::milliseconds(2000);
  auto answer = http::fetch(r);
  const json hosts = answer && answer->status == 200 ? json::parse(answer->body, nullptr, false) : json();
  if (!hosts.is_object()) {
    out << "hosts: unknown (the leader did not answer at " << url << ")\n";
    return kExitOk;
  }
  out << "config_lag_s: " << hosts.value("config_lag_s", 0.0) << "\n";
  for (const json& h : hosts.value("hosts", json::array()))
    out << "host." << h.value("id", std::string()) << ": region " << h.value("region", std::string()) << ", applied "
        << h.value("applied_generation", 0) << ", last interval " << h.value("last_interval", std::string())
        << (h.value("data_missing", false) ? ", data missing" : "") << "\n";
  return kExitOk;
}

Status refuse_if_fleet_managed(const std::string& segment, const std::string& action) {
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return Status::Ok();  // the command itself says what is wrong with the segment
  ConfigData c;
  if (!read_config(attached->config(), c, attached->geometry().params.endpoint_capacity).ok || !c.fleet_managed)
    return Status::Ok();
  return {Errc::refused, "segment '" + segment + "' is managed by a fleet: " + action +
                             " goes through etcd (canary-ctl --etcd ENDPOINTS --deployment NAME " + action + ")"};
}

}  // namespace canary::tools
