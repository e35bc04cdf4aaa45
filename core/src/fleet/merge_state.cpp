// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/merge_state.hpp"

namespace canary::fleet {

namespace {

// "cnryFlt3": steps' slices of time; "cnryFlt2": steps keyed by generation
constexpr std::uint64_t kStateMagic = 0x33746c46'79726e63;
constexpr std::uint64_t kMaxEntries = 1'000'000;
constexpr std::uint64_t kMaxText = 4096;

void put_counts(ByteWriter& out, const WindowCounts& c) {
  for (std::uint64_t x : {c.requests, c.errors, c.client_errors, c.unavailable, c.latency_sum_us}) out.u64(x);
}
bool get_counts(ByteReader& in, WindowCounts& c) {
  return in.u64(c.requests) && in.u64(c.errors) && in.u64(c.client_errors) && in.u64(c.unavailable) &&
         in.u64(c.latency_sum_us);
}
bool get_text(ByteReader& in, std::string& s) {
  std::string_view v;
  if (!in.bytes(v, kMaxText)) return false;
  s.assign(v);
  return true;
}

}  // namespace

Stretch& MergeState::step(const std::string& scope, const std::string& key, std::uint64_t generation) {
  Stretch& s = steps[scope];
  if (s.key != key) {
    const std::uint64_t sequence = s.key.empty() ? s.sequence : s.sequence + 1;
    s = Stretch{};
    s.sequence = sequence;
    s.key = key;
    s.first_generation = generation;
  }
  return s;
}

void Stretch::slice(std::uint64_t elapsed_ms, bool count_4xx_as_errors) {
  for (std::uint32_t v = 0; v < kFleetSides; ++v) {
    const WindowCounts d = counts[v].since(sliced[v]);
    time[v].add(d.requests, d.errors + (count_4xx_as_errors ? d.client_errors : 0), d.unavailable,
                static_cast<double>(elapsed_ms) / 1000);
    sliced[v] = counts[v];
  }
}

std::size_t MergeState::merge(const std::string& host, const std::string& region, std::vector<HostInterval>& intervals,
                              std::uint64_t generation, bool candidate_serves) {
  HostCursor& cursor = hosts[host];
  cursor.region = region;
  std::size_t added = 0;
  for (HostInterval& h : intervals) {
    const bool same_segment = h.segment_id == cursor.segment_id;
    if (same_segment && !cursor.last.precedes(h.id)) continue;  // had it already
    if (h.fleet_generation > generation) break;  // this leader has not read that config yet
    WindowCounts now[kFleetSides];
    for (const IntervalCell& c : h.cells)
      if (c.version < kFleetSides) now[c.version] += c.cumulative;
    // Its counts cover exactly its own time only when it is the next one after the last read.
    const bool whole = same_segment && cursor.last.followed_by(h.id) && h.fleet_flags == 0;
    // A new segment counts from zero; the same one from where this host was last read.
    WindowCounts delta[kFleetSides];
    for (std::uint32_t v = 0; v < kFleetSides; ++v) delta[v] = same_segment ? now[v].since(cursor.cumulative[v]) : now[v];
    bool left_out = false;
    for (const std::string& scope : {region, std::string()}) {
      const bool in_step = whole && h.fleet_generation >= steps[scope].first_generation;
      left_out = left_out || !in_step;
      for (std::uint32_t v = 0; v < kFleetSides; ++v) {
        totals[scope][v] += delta[v];
        if (!in_step) continue;
        steps[scope].counts[v] += delta[v];
        if (scope.empty()) steps[scope].regions[region][v] += delta[v];
        if (!scope.empty() || candidate_serves || v == 1) steps[scope].latency[v].merge(h.latency[v]);
      }
    }
    if (left_out) {
      ++intervals_left_out;
      for (const WindowCounts& d : delta) requests_left_out += d.requests;
    }
    for (std::uint32_t v = 0; v < kFleetSides; ++v) cursor.cumulative[v] = now[v];
    cursor.segment_id = h.segment_id;
    cursor.last = h.id;
    ++added;
    ++intervals_merged;
  }
  return added;
}

std::string MergeState::serialize() {
  ByteWriter out;
  out.u64(kStateMagic);
  out.u64(intervals_merged);
  out.u64(intervals_left_out);
  out.u64(requests_left_out);
  out.u64(hosts.size());
  for (const auto& [id, c] : hosts) {
    out.bytes(id);
    out.bytes(c.region);
    out.u64(c.last.epoch);
    out.u64(c.last.sequence);
    out.u64(c.segment_id);
    for (const WindowCounts& w : c.cumulative) put_counts(out, w);
  }
  out.u64(steps.size());
  for (auto& [scope, s] : steps) {
    out.bytes(scope);
    out.bytes(s.key);
    out.u64(s.sequence);
    out.u64(s.first_generation);
    out.u64(s.gate_held_ms);
    for (std::uint32_t v = 0; v < kFleetSides; ++v) {
      put_counts(out, s.counts[v]);
      s.latency[v].serialize(out);
      s.time[v].serialize(out);
      put_counts(out, s.sliced[v]);
    }
    out.u64(s.regions.size());
    for (const auto& [region, counts] : s.regions) {
      out.bytes(region);
      for (const WindowCounts& w : counts) put_counts(out, w);
    }
  }
  out.u64(totals.size());
  for (const auto& [scope, t] : totals) {
    out.bytes(scope);
    for (const WindowCounts& w : t) put_counts(out, w);
  }
  return std::move(out.out());
}

Expected<MergeState> MergeState::deserialize(std::string_view bytes) {
  ByteReader in(bytes);
  MergeState m;
  std::uint64_t magic = 0, n = 0;
  const Status bad{Errc::corrupt, "the fleet controller's checkpoint in etcd is malformed"};
  if (!in.u64(magic) || magic != kStateMagic || !in.u64(m.intervals_merged) || !in.u64(m.intervals_left_out) ||
      !in.u64(m.requests_left_out))
    return bad;
  if (!in.u64(n) || n > kMaxEntries) return bad;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string id;
    HostCursor c;
    if (!get_text(in, id) || !get_text(in, c.region) || !in.u64(c.last.epoch) || !in.u64(c.last.sequence) ||
        !in.u64(c.segment_id))
      return bad;
    for (WindowCounts& w : c.cumulative)
      if (!get_counts(in, w)) return bad;
    m.hosts[id] = std::move(c);
  }
  if (!in.u64(n) || n > kMaxEntries) return bad;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string scope;
    Stretch s;
    if (!get_text(in, scope) || !get_text(in, s.key) || !in.u64(s.sequence) || !in.u64(s.first_generation) ||
        !in.u64(s.gate_held_ms))
      return bad;
    for (std::uint32_t v = 0; v < kFleetSides; ++v)
      if (!get_counts(in, s.counts[v]) || !s.latency[v].deserialize(in) || !s.time[v].deserialize(in) ||
          !get_counts(in, s.sliced[v]))
        return bad;
    std::uint64_t regions = 0;
    if (!in.u64(regions) || regions > kMaxEntries) return bad;
    for (std::uint64_t r = 0; r < regions; ++r) {
      std::string region;
      if (!get_text(in, region)) return bad;
      for (WindowCounts& w : s.regions[region])
        if (!get_counts(in, w)) return bad;
    }
    m.steps[scope] = std::move(s);
  }
  if (!in.u64(n) || n > kMaxEntries) return bad;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string scope;
    if (!get_text(in, scope)) return bad;
    for (WindowCounts& w : m.totals[scope])
      if (!get_counts(in, w)) return bad;
  }
  if (!in.at_end()) return bad;
  return m;
}

}  // namespace canary::fleet
