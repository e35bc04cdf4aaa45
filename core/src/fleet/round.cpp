// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/round.hpp"

#include <algorithm>

#include "canary/decision/version_evidence.hpp"
#include "canary/http/client.hpp"

namespace canary::fleet {

namespace {

http::ClientRequest pull_request(const HostRef& host, const IntervalId& after, const PullOptions& o) {
  http::ClientRequest r;
  r.url = host.url + "/api/v2/admin/canary/fleet/intervals?after=" + to_string(after);
  r.timeout = o.timeout;
  r.max_response_bytes = 256u << 20;
  r.ca_file = o.ca_file;
  if (!o.token.empty()) r.headers.emplace_back("Authorization", "Bearer " + o.token);
  return r;
}

PullResult decoded(const HostRef& host, Expected<http::ClientResponse>& answer) {
  PullResult out;
  if (!answer) {
    out.error = answer.status().message();
    return out;
  }
  if (answer->status != 200) {
    out.error = host.url + " answered " + std::to_string(answer->status);
    return out;
  }
  auto batch = decode_batch(answer->body);
  if (!batch) {
    out.error = host.url + ": " + batch.status().message();
    return out;
  }
  out.ok = true;
  out.intervals = std::move(*batch);
  return out;
}

}  // namespace

Evidence step_evidence(Stretch& s, const Policy& p) {
  Evidence e;
  e.sequence = s.sequence;
  e.window = "step";
  const bool with_4xx = p.rollback.count_4xx_as_errors;
  for (std::uint32_t v = 0; v < kFleetSides; ++v) {
    VersionEvidence& ve = v == 1 ? e.canary : e.legacy;
    ve = version_evidence(s.counts[v], s.latency[v], with_4xx);
    ve.time_design_effect = s.time[v].design_effect();
    ve.unavailable_time_design_effect = s.time[v].unavailable_design_effect();
    ve.time_slices = std::max<std::uint64_t>(1, s.time[v].slices());
  }
  // The fleet compares like with like: region by region, weighted by the candidate's own mix.
  for (const auto& [region, counts] : s.regions) {
    Stratum st;
    st.name = region;
    st.legacy_requests = counts[0].requests;
    st.legacy_errors = counts[0].errors + (with_4xx ? counts[0].client_errors : 0);
    st.canary_requests = counts[1].requests;
    st.canary_errors = counts[1].errors + (with_4xx ? counts[1].client_errors : 0);
    e.strata.push_back(std::move(st));
  }
  return e;
}

std::string shares_key(const FleetConfig& c) {
  std::string k = std::to_string(c.rollout_unix_ns) + ":" + std::to_string(c.share_bp);
  for (const auto& [r, bp] : c.shares) k += "," + r + "=" + std::to_string(c.share_for(r));
  for (const std::string& r : c.regions_rolled_back) k += ",-" + r;
  return k;
}

std::vector<PullResult> pull_hosts(const std::vector<HostRef>& hosts, const MergeState& state, const PullOptions& options) {
  std::vector<http::ClientRequest> requests;
  requests.reserve(hosts.size());
  for (const HostRef& h : hosts) {
    const auto cursor = state.hosts.find(h.id);
    requests.push_back(pull_request(h, cursor == state.hosts.end() ? IntervalId{} : cursor->second.last, options));
  }
  // One thread, every host in flight at once up to `parallel`: no thread per host.
  std::vector<Expected<http::ClientResponse>> answers = http::fetch_many(requests, options.parallel);
  std::vector<PullResult> pulls;
  pulls.reserve(hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i) pulls.push_back(decoded(hosts[i], answers[i]));
  return pulls;
}

Round merge_and_judge(MergeState& state, const FleetConfig& cfg, const Policy& policy, const std::vector<HostRef>& hosts,
                      std::vector<PullResult>& pulls, std::uint64_t elapsed_ms) {
  // The steps as the config has them now; then the new data into them.
  std::set<std::string> regions;
  for (const HostRef& h : hosts) regions.insert(h.region);
  for (const auto& [r, bp] : cfg.shares) regions.insert(r);
  for (const std::string& r : regions)
    state.step(r, std::to_string(cfg.rollout_unix_ns) + ":" + std::to_string(cfg.share_for(r)), cfg.generation);
  state.step("", shares_key(cfg), cfg.generation);
  Round round;
  for (const std::string& r : regions) round.scopes[r].scope = r;
  round.scopes[""].scope = "fleet";
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    for (const std::string& scope : {hosts[i].region, std::string()})
      (pulls[i].ok ? round.scopes[scope].hosts : round.scopes[scope].missing).push_back(hosts[i].id);
    if (pulls[i].ok) state.merge(hosts[i].id, hosts[i].region, pulls[i].intervals, cfg.generation, cfg.share_for(hosts[i].region) > 0);
  }
  for (auto& [scope, s] : state.steps) s.slice(elapsed_ms, policy.rollback.count_4xx_as_errors);

  // Judge every region the candidate serves in, and the fleet; alpha split among them (Bonferroni).
  for (const std::string& r : regions)
    if (cfg.share_for(r) > 0) round.serving.push_back(r);
  if (!round.serving.empty()) round.serving.push_back("");
  const Policy split = candidate_policy(policy, round.serving.size());
  const bool judging = cfg.state == DeploymentState::running || cfg.state == DeploymentState::paused ||
                       cfg.state == DeploymentState::inconclusive;
  for (auto& [scope, sv] : round.scopes) {
    Stretch& s = state.steps[scope];
    sv.share_bp = scope.empty() ? cfg.share_bp : cfg.share_for(scope);
    sv.sequence = s.sequence;
    for (std::uint32_t i = 0; i < kFleetSides; ++i) {
      sv.step[i] = s.counts[i];
      sv.total[i] = state.totals[scope][i];
      sv.p95_ms[i] = s.latency[i].empty() ? 0 : s.latency[i].quantile(0.95) / 1000.0;
      sv.p99_ms[i] = s.latency[i].empty() ? 0 : s.latency[i].quantile(0.99) / 1000.0;
    }
    if (!judging || std::find(round.serving.begin(), round.serving.end(), scope) == round.serving.end()) {
      s.gate_held_ms = 0;
      continue;
    }
    const Evidence e = step_evidence(s, split);
    sv.judgement = judge(split, e, nullptr);
    sv.judged = true;
    // Saturating: a sum that cannot wrap, whatever a checkpoint held.
    s.gate_held_ms = !sv.judgement.gate_holds ? 0 : elapsed_ms > UINT64_MAX - s.gate_held_ms ? UINT64_MAX : s.gate_held_ms + elapsed_ms;
    sv.gate_held_ms = s.gate_held_ms;
  }
  return round;
}

}  // namespace canary::fleet
