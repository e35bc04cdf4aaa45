// SPDX-License-Identifier: Apache-2.0
#include "dump_snapshot.hpp"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/share.hpp"
#include "canary/summary.hpp"
#include "canary/versions.hpp"
#include "canary/window_series.hpp"
#include "counts_json.hpp"

namespace canary::tools {

namespace {

nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

nlohmann::json summary_stats_json(const SummaryStats& st) {
  return {{"requests", st.requests},
          {"errors", st.errors},
          {"client_errors", st.client_errors},
          {"unavailable", st.unavailable},
          {"mean_ms", st.requests ? static_cast<double>(st.latency_sum_us) / 1000.0 / static_cast<double>(st.requests) : 0.0},
          {"p50_ms", number_or_null(st.p50_ms)},
          {"p95_ms", number_or_null(st.p95_ms)},
          {"p99_ms", number_or_null(st.p99_ms)}};
}

double age_seconds(std::uint64_t then_ns, std::uint64_t now_ns) {
  return now_ns > then_ns ? static_cast<double>(now_ns - then_ns) / 1e9 : 0.0;
}

std::string endpoint_name(const ConfigData& c, std::uint32_t id) {
  return id < c.endpoint_count ? std::string(text_of(c.endpoints[id].path)) : "#" + std::to_string(id);
}

std::string mean_ms(const Counts& c) {
  const std::uint64_t n = c.total();
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << (n == 0 ? 0.0 : static_cast<double>(c.latency_sum_us) / 1000.0 / static_cast<double>(n));
  return out.str();
}

// The names of the version slots in use, retired ones too (their counts stay), by index.
std::vector<std::string> version_names(const ConfigData& c) {
  std::vector<std::string> names;
  for (std::uint32_t v = 0; v < c.version_count && v < kMaxVersions; ++v) names.emplace_back(version_name(c, v));
  return names;
}

}  // namespace

Expected<DumpSnapshot> take_snapshot(const Segment& segment) {
  DumpSnapshot s;
  s.name = segment.name();
  const SegmentHeader& h = segment.header();
  s.layout_version = h.layout_version;
  s.total_size = h.total_size;
  s.created_unix_ns = h.created_unix_ns;
  s.creator_pid = h.creator_pid;
  s.params = segment.geometry().params;
  s.config = std::make_unique<ConfigData>();
  if (!read_config(segment.config(), *s.config, s.params.endpoint_capacity).ok)
    return Status{Errc::corrupt, "segment '" + segment.name() + "' is corrupt: its config has no valid copy"};
  s.totals = sum_slabs(segment, /*with_histograms=*/false);
  s.rings = inspect_rings(segment);
  const RingsHeader& rh = segment.rings_header();
  s.no_ring_drops = rh.no_ring_drops.load(std::memory_order_relaxed);
  s.reaped_records = rh.reaped_records.load(std::memory_order_relaxed);
  s.reclaimed_rings = rh.reclaimed_rings.load(std::memory_order_relaxed);
  s.retired_full_drops = rh.retired_full_drops.load(std::memory_order_relaxed);
  s.crashed_in_flight = rh.crashed_in_flight.load(std::memory_order_relaxed);
  s.invalid_in_flight = rh.invalid_in_flight.load(std::memory_order_relaxed);
  s.latency_clamped = rh.latency_clamped.load(std::memory_order_relaxed);
  s.lost_records = segment.aggregator().lost_records.load(std::memory_order_relaxed);
  s.coarse_clock_ms = segment.aggregator().coarse_clock_ms.load(std::memory_order_relaxed);
  s.aggregator = aggregator_liveness(segment);
  s.now_unix_ns = unix_now_ns();
  auto summary = std::make_unique<SummaryData>();
  if (read_summary(segment, *summary)) s.summary = std::move(summary);
  return s;
}

std::string render_json(const DumpSnapshot& s, bool pretty) {
  using nlohmann::json;
  const ConfigData& c = *s.config;
  const VersionEntry& first = c.versions[first_candidate(c)];
  json endpoints_to_canary = json::array();
  for (std::uint32_t id = 1; id < c.endpoint_count; ++id)
    if (endpoint_on(first, id)) endpoints_to_canary.push_back(std::string(text_of(c.endpoints[id].path)));

  const std::vector<std::string> names = version_names(c);
  json endpoints = json::object();
  for (std::uint32_t id = 0; id < s.params.endpoint_capacity; ++id) {
    std::uint64_t requests = 0;
    json entry = {{"id", id}};
    for (std::uint32_t v = 0; v < names.size(); ++v) {
      const Counts& k = s.totals.at(static_cast<Version>(v), static_cast<EndpointId>(id));
      requests += k.total();
      // The baseline and the first candidate always (the two-version shape); others with traffic.
      if (v <= kFirstCandidate || k.total() != 0) entry[names[v]] = counts_to_json(k);
    }
    if (id >= c.endpoint_count && requests == 0) continue;
    endpoints[endpoint_name(c, id)] = std::move(entry);
  }
  std::vector<Counts> version_totals;
  for (std::uint32_t v = 0; v < names.size(); ++v) version_totals.push_back(s.totals.version_total(static_cast<Version>(v)));
  json versions = json::array();
  for (std::uint32_t v = 0; v < names.size(); ++v)
    versions.push_back({{"index", v}, {"name", names[v]}, {"role", v == c.baseline ? "baseline" : "candidate"},
                        {"share_bp", v == c.baseline ? baseline_share(c) : c.versions[v].share_bp},
                        {"state", to_string(static_cast<DeploymentState>(c.versions[v].state))},
                        {"removed", c.versions[v].slot == kSlotRetired}});

  json rings = json::array();
  std::uint64_t full_drops = s.retired_full_drops;
  for (const RingInfo& r : s.rings) {
    full_drops += r.drops;
    rings.push_back({{"index", r.index}, {"pid", r.owner_pid}, {"owned", r.owned}, {"alive", r.alive},
                     {"records", r.records}, {"fill", r.fill}, {"drops", r.drops}, {"claims", r.claims}});
  }

  json out = {
      {"segment", s.name},
      {"header",
       {{"layout_version", s.layout_version}, {"total_size", s.total_size}, {"created_unix_ns", s.created_unix_ns},
        {"creator_pid", s.creator_pid}, {"cpu_slots", s.params.cpu_slots},
        {"endpoint_capacity", s.params.endpoint_capacity}, {"ring_count", s.params.ring_count},
        {"ring_records", s.params.ring_records}}},
      {"config",
       {{"enabled", c.enabled != 0}, {"canary_percentage", static_cast<double>(first.share_bp) / 100.0},
        {"share_bp", first.share_bp}, {"hash", to_string(static_cast<HashMode>(c.hash_mode))}, {"salt", c.salt},
        {"generation", c.generation}, {"state", to_string(static_cast<DeploymentState>(first.state))},
        {"state_reason", std::string(text_of(first.state_reason))}, {"changed_by", std::string(text_of(c.changed_by))},
        {"changed_unix_ns", c.changed_unix_ns}, {"endpoints_to_canary", endpoints_to_canary}, {"versions", versions},
        {"switched", c.switched != 0}}},
      {"totals", totals_to_json(names, version_totals)},
      {"endpoints", endpoints},
      {"rings", rings},
      {"drops",
       {{"ring_full", full_drops}, {"no_free_ring", s.no_ring_drops}, {"reaped", s.reaped_records},
        {"reclaimed_rings", s.reclaimed_rings}}},
      {"crashed_requests", {{"counted_unavailable", s.crashed_in_flight}, {"invalid_marks", s.invalid_in_flight}}},
      {"latency_clamped", s.latency_clamped},
      {"aggregator",
       {{"status", std::string(to_string(s.aggregator.state))}, {"pid", s.aggregator.pid},
        {"heartbeat_unix_ns", s.aggregator.heartbeat_unix_ns}, {"heartbeat_age_s", s.aggregator.heartbeat_age_s},
        {"coarse_clock_ms", s.coarse_clock_ms}, {"lost_records", s.lost_records}}},
  };
  if (s.summary) {
    const SummaryData& sum = *s.summary;
    nlohmann::json windows = nlohmann::json::object();
    for (Window w : kAllWindows)
      for (std::uint32_t v = 0; v < names.size(); ++v)
        windows[std::string(to_string(w))][v == 0 ? "legacy" : v == 1 ? "canary" : names[v]] =
            summary_stats_json(sum.totals[static_cast<std::size_t>(w)][v]);
    out["summary"] = {{"generated_unix_ns", sum.generated_unix_ns},
                      {"age_s", age_seconds(sum.generated_unix_ns, s.now_unix_ns)},
                      {"config_generation", sum.config_generation},
                      {"interval_ms", sum.interval_ms},
                      {"windows", windows}};
    // Fleet mode: whether this host's aggregator reaches etcd (null: not in a fleet).
    // Only a live aggregator is in the fleet: a dead one's last summary says nothing now.
    const bool live = s.aggregator.state == AggregatorState::alive;
    out["fleet_connected"] = sum.fleet_state == 0 ? nlohmann::json() : nlohmann::json(live && sum.fleet_state == 1 ? 1 : 0);
  }
  return out.dump(pretty ? 2 : -1);
}

std::string render_text(const DumpSnapshot& s) {
  const ConfigData& c = *s.config;
  const VersionEntry& first = c.versions[first_candidate(c)];
  const std::vector<std::string> names = version_names(c);
  std::ostringstream out;
  out << "segment " << s.name << ": layout " << s.layout_version << ", " << s.total_size << " bytes, created "
      << utc_text(s.created_unix_ns) << " by pid " << s.creator_pid << "\n  " << s.params.cpu_slots << " CPU slots, "
      << s.params.endpoint_capacity << " endpoint slots, " << s.params.ring_count << " rings of "
      << s.params.ring_records << " records\n";
  out << "config: generation " << c.generation << ", " << (c.enabled ? "enabled" : "disabled") << ", "
      << format_share_percent(first.share_bp) << "% canary, " << to_string(static_cast<HashMode>(c.hash_mode))
      << " salt " << c.salt << ", state " << to_string(static_cast<DeploymentState>(first.state)) << " ("
      << text_of(first.state_reason) << ")\n";
  for (std::uint32_t v = 0; v < names.size(); ++v)
    if (v != c.baseline && v != first_candidate(c))
      out << "  version " << names[v] << ": " << format_share_percent(c.versions[v].share_bp) << "%, state "
        << to_string(static_cast<DeploymentState>(c.versions[v].state)) << " (" << text_of(c.versions[v].state_reason) << ")\n";
  out << "aggregator: " << to_string(s.aggregator.state);
  if (s.aggregator.state != AggregatorState::none)
    out << ", pid " << s.aggregator.pid << ", heartbeat " << std::fixed << std::setprecision(1)
        << s.aggregator.heartbeat_age_s << " s ago";
  out << '\n';
  if (c.fleet_managed)
    out << "fleet: managed through etcd, fleet_connected "
        << (s.aggregator.state == AggregatorState::alive && s.summary && s.summary->fleet_state == 1 ? 1 : 0) << '\n';
  if (s.summary) {
    const SummaryData& sum = *s.summary;
    out << "summary (window all, " << std::fixed << std::setprecision(1)
        << age_seconds(sum.generated_unix_ns, s.now_unix_ns) << " s old):";
    for (std::uint32_t v = 0; v < names.size(); ++v) {
      const SummaryStats& st = sum.totals[static_cast<std::size_t>(Window::all)][v];
      // To the microsecond: the exact quantile is a whole number of microseconds.
      out << (v ? "; " : " ") << names[v] << " p95 " << std::setprecision(3) << st.p95_ms
          << " ms, p99 " << st.p99_ms << " ms";
    }
    out << '\n';
  }
  out << '\n';

  auto row = [&](const std::string& name, const std::string& version, const Counts& k) {
    out << std::left << std::setw(44) << name << std::setw(8) << version << std::right << std::setw(12) << k.total()
        << std::setw(10) << k.errors() << std::setw(10) << k.client_errors() << std::setw(12) << k.unavailable()
        << std::setw(10) << mean_ms(k) << '\n';
  };
  auto header = [&](const char* title) {
    out << std::left << std::setw(44) << title << std::setw(8) << "version" << std::right << std::setw(12)
        << "requests" << std::setw(10) << "errors" << std::setw(10) << "4xx" << std::setw(12) << "unavailable"
        << std::setw(10) << "mean ms" << '\n';
  };
  header("totals");
  for (std::uint32_t v = 0; v < names.size(); ++v)
    row("all endpoints", names[v], s.totals.version_total(static_cast<Version>(v)));
  out << '\n';
  header("endpoint");
  std::uint32_t quiet = 0;
  for (std::uint32_t id = 0; id < s.params.endpoint_capacity; ++id) {
    bool any = false;
    for (std::uint32_t v = 0; v < names.size(); ++v) {
      const Counts& k = s.totals.at(static_cast<Version>(v), static_cast<EndpointId>(id));
      if (k.total() == 0) continue;
      row(endpoint_name(c, id), names[v], k);
      any = true;
    }
    if (!any && id < c.endpoint_count) ++quiet;
  }
  if (quiet != 0) out << "(" << quiet << " registered endpoints without traffic)\n";

  std::uint32_t owned = 0, alive = 0;
  std::uint64_t full = s.retired_full_drops;
  for (const RingInfo& r : s.rings) {
    owned += r.owned;
    alive += r.alive;
    full += r.drops;
  }
  out << "\nrings: " << owned << " owned (" << alive << " alive, " << owned - alive << " dead), "
      << s.rings.size() - owned << " free; dropped: " << full << " ring full, " << s.no_ring_drops
      << " no free ring, " << s.reaped_records << " reaped; " << s.crashed_in_flight
      << " requests of dead writers counted unavailable; " << s.lost_records
      << " records lost with killed aggregators; " << s.latency_clamped << " latencies clamped to an hour\n";
  if (owned != 0) {
    out << std::right << std::setw(6) << "ring" << std::setw(9) << "pid" << std::setw(7) << "alive" << std::setw(14)
        << "records" << std::setw(10) << "fill" << std::setw(10) << "drops" << '\n';
    for (const RingInfo& r : s.rings) {
      if (!r.owned) continue;
      out << std::setw(6) << r.index << std::setw(9) << r.owner_pid << std::setw(7) << (r.alive ? "yes" : "no")
          << std::setw(14) << r.records << std::setw(10) << r.fill << std::setw(10) << r.drops << '\n';
    }
  }
  return out.str();
}

}  // namespace canary::tools
