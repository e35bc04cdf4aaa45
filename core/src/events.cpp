// SPDX-License-Identifier: Apache-2.0
#include "canary/events.hpp"

#include <algorithm>
#include <memory>

#include "canary/detail/words.hpp"
#include "canary/fixed_text.hpp"
#include "canary/segment.hpp"

namespace canary {

namespace {

EventLogHeader& header(const Segment& s) { return *reinterpret_cast<EventLogHeader*>(s.region(RegionId::events)); }

EventEntry& entry(const Segment& s, std::uint64_t seq) {
  auto* entries = reinterpret_cast<EventEntry*>(s.region(RegionId::events) + sizeof(EventLogHeader));
  return entries[(seq - 1) % kEventCapacity];
}

}  // namespace

void append_event(Segment& segment, Event event) {
  EventLogHeader& h = header(segment);
  // relaxed: only the holder of the config lock appends.
  const std::uint64_t seq = h.last_seq.load(std::memory_order_relaxed) + 1;
  EventEntry& e = entry(segment, seq);
  // relaxed: the release word stores below keep this "being written" mark before them.
  e.seq.store(0, std::memory_order_relaxed);
  auto local = std::make_unique<EventEntry>();
  local->unix_ns = event.unix_ns;
  local->monotonic_ms = event.monotonic_ms;
  local->config_generation = event.config_generation;
  local->share_before_bp = event.share_before_bp;
  local->share_after_bp = event.share_after_bp;
  local->kind = static_cast<std::uint8_t>(event.kind);
  local->from_state = static_cast<std::uint8_t>(event.from);
  local->to_state = static_cast<std::uint8_t>(event.to);
  local->version = static_cast<std::uint8_t>(event.version);
  local->latency_ms = event.latency_ms;
  set_text(local->version_name, event.version_name);
  set_text(local->actor, event.actor);
  set_text(local->reason, event.reason);
  set_text(local->details, event.details_json);
  // Everything after the seq word, word by word (release: each word before the seq below).
  detail::store_words(reinterpret_cast<std::byte*>(&e) + 8, reinterpret_cast<const std::byte*>(local.get()) + 8,
                      sizeof(EventEntry) - 8);
  // release: the entry is complete before its seq says so, and before the header points at it.
  e.seq.store(seq, std::memory_order_release);
  h.last_seq.store(seq, std::memory_order_release);
}

std::vector<Event> read_events(const Segment& segment, std::uint64_t after) {
  std::vector<Event> out;
  // acquire: pairs with append_event's release, so events up to `last` are complete.
  const std::uint64_t last = header(segment).last_seq.load(std::memory_order_acquire);
  if (last <= after) return out;
  const std::uint64_t first = std::max(after + 1, last > kEventCapacity ? last - kEventCapacity + 1 : 1);
  auto copy = std::make_unique<EventEntry>();
  for (std::uint64_t seq = first; seq <= last; ++seq) {
    const EventEntry& e = entry(segment, seq);
    if (e.seq.load(std::memory_order_acquire) != seq) continue;  // overwritten or being written
    detail::load_words(reinterpret_cast<const std::byte*>(&e) + 8, reinterpret_cast<std::byte*>(copy.get()) + 8,
                       sizeof(EventEntry) - 8);
    if (e.seq.load(std::memory_order_relaxed) != seq) continue;  // overwritten while copied
    if (copy->kind == 0 || copy->kind >= kEventKindCount || copy->from_state >= kDeploymentStateCount ||
        copy->to_state >= kDeploymentStateCount || copy->share_before_bp > kMaxShareBp ||
        copy->share_after_bp > kMaxShareBp || copy->version >= kMaxVersions)
      continue;
    Event ev;
    ev.seq = seq;
    ev.unix_ns = copy->unix_ns;
    ev.monotonic_ms = copy->monotonic_ms;
    ev.config_generation = copy->config_generation;
    ev.share_before_bp = copy->share_before_bp;
    ev.share_after_bp = copy->share_after_bp;
    ev.kind = static_cast<EventKind>(copy->kind);
    ev.from = static_cast<DeploymentState>(copy->from_state);
    ev.to = static_cast<DeploymentState>(copy->to_state);
    ev.latency_ms = copy->latency_ms;
    ev.version = copy->version;
    ev.version_name = text_of(copy->version_name);
    ev.actor = text_of(copy->actor);
    ev.reason = text_of(copy->reason);
    ev.details_json = text_of(copy->details);
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace canary
