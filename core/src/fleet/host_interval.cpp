// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/host_interval.hpp"

#include <charconv>
#include <random>

#include "canary/byte_io.hpp"

namespace canary::fleet {

namespace {

constexpr std::uint64_t kBatchMagic = 0x32766e49'79726e63;    // "cnryInv2"
constexpr std::uint64_t kOldBatchMagic = 0x31766e49'79726e63;  // "cnryInv1": no fleet generation
constexpr std::uint64_t kMaxBatch = 100000;
constexpr std::uint64_t kMaxCells = std::uint64_t{kMaxVersions} * kMaxEndpoints;
constexpr std::uint64_t kMaxIntervalBytes = 64ull << 20;

bool read_interval(ByteReader& in, HostInterval& h) {
  std::uint64_t cells = 0;
  if (!in.u64(h.segment_id) || !in.u64(h.id.epoch) || !in.u64(h.id.sequence) || !in.u64(h.unix_ns) ||
      !in.u64(h.config_generation) || !in.u64(h.fleet_generation) || !in.u64(h.fleet_flags) || !in.u64(cells) ||
      cells > kMaxCells)
    return false;
  h.cells.resize(cells);
  for (IntervalCell& c : h.cells) {
    std::uint64_t version = 0, endpoint = 0;
    WindowCounts& w = c.cumulative;
    if (!in.u64(version) || !in.u64(endpoint) || version >= kMaxVersions || endpoint >= kMaxEndpoints) return false;
    if (!in.u64(w.requests) || !in.u64(w.errors) || !in.u64(w.client_errors) || !in.u64(w.unavailable) ||
        !in.u64(w.latency_sum_us))
      return false;
    c.version = static_cast<std::uint32_t>(version);
    c.endpoint = static_cast<std::uint32_t>(endpoint);
  }
  std::uint64_t versions = 0;
  if (!in.u64(versions) || versions > kMaxVersions) return false;
  for (std::uint64_t i = 0; i < versions; ++i) {
    std::uint64_t v = 0;
    if (!in.u64(v) || v >= kMaxVersions || !h.latency[v].deserialize(in)) return false;
  }
  return in.ok();
}

}  // namespace

std::optional<IntervalId> parse_interval_id(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  IntervalId id;
  const char* end = text.data() + text.size();
  auto a = std::from_chars(text.data(), text.data() + dot, id.epoch);
  auto b = std::from_chars(text.data() + dot + 1, end, id.sequence);
  if (a.ec != std::errc() || a.ptr != text.data() + dot || b.ec != std::errc() || b.ptr != end) return std::nullopt;
  return id;
}

std::uint64_t new_run_id() {
  std::random_device device;
  std::uint64_t id = 0;
  while (id == 0) id = (std::uint64_t{device()} << 32) ^ device();
  return id;
}

std::string to_string(const IntervalId& id) { return std::to_string(id.epoch) + "." + std::to_string(id.sequence); }

std::string encode_interval(HostInterval& h) {
  ByteWriter out;
  for (std::uint64_t x : {h.segment_id, h.id.epoch, h.id.sequence, h.unix_ns, h.config_generation, h.fleet_generation, h.fleet_flags})
    out.u64(x);
  out.u64(h.cells.size());
  for (const IntervalCell& c : h.cells) {
    const WindowCounts& w = c.cumulative;
    for (std::uint64_t x : {std::uint64_t{c.version}, std::uint64_t{c.endpoint}, w.requests, w.errors, w.client_errors,
                            w.unavailable, w.latency_sum_us})
      out.u64(x);
  }
  std::uint64_t versions = 0;
  for (const Samples& s : h.latency) versions += s.empty() ? 0 : 1;
  out.u64(versions);
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    if (h.latency[v].empty()) continue;
    out.u64(v);
    h.latency[v].serialize(out);
  }
  return std::move(out.out());
}

std::string encode_batch(const std::vector<std::string_view>& encoded) {
  ByteWriter out;
  out.u64(kBatchMagic);
  out.u64(encoded.size());
  for (std::string_view one : encoded) out.bytes(one);
  return std::move(out.out());
}

Expected<std::vector<HostInterval>> decode_batch(std::string_view bytes) {
  ByteReader in(bytes);
  std::uint64_t magic = 0, count = 0;
  if (in.u64(magic) && magic == kOldBatchMagic)
    return Status{Errc::corrupt, "interval batch format 1, from a host older than this controller: upgrade the host"};
  if (magic != kBatchMagic) return Status{Errc::corrupt, "not a canary-shm interval batch"};
  if (!in.u64(count) || count > kMaxBatch) return Status{Errc::corrupt, "interval batch: bad count"};
  std::vector<HostInterval> out(count);
  for (HostInterval& h : out) {
    std::string_view one;
    if (!in.bytes(one, kMaxIntervalBytes)) return Status{Errc::corrupt, "interval batch: truncated"};
    ByteReader body(one);
    if (!read_interval(body, h) || !body.at_end()) return Status{Errc::corrupt, "interval batch: a malformed interval"};
  }
  if (!in.at_end()) return Status{Errc::corrupt, "interval batch: bytes after the last interval"};
  return out;
}

void IntervalHistory::push(IntervalId id, std::string encoded) {
  std::lock_guard lock(mutex_);
  intervals_.emplace_back(id, std::move(encoded));
  while (intervals_.size() > capacity_) intervals_.pop_front();
}

std::string IntervalHistory::encode_after(const IntervalId& after, std::size_t limit) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string_view> picked;
  for (const auto& [id, bytes] : intervals_) {
    if (!after.precedes(id)) continue;
    picked.push_back(bytes);
    if (picked.size() >= limit) break;
  }
  return encode_batch(picked);
}

std::optional<IntervalId> IntervalHistory::newest() const {
  std::lock_guard lock(mutex_);
  if (intervals_.empty()) return std::nullopt;
  return intervals_.back().first;
}

}  // namespace canary::fleet
