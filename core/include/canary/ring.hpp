// SPDX-License-Identifier: Apache-2.0
// Per-writer rings: each writer (process or thread) owns one single-producer ring; the aggregator
// (or `canary-ctl reap` when none runs) is the one consumer. Ownership is a lock on the ring's
// byte of the segment file, so the kernel ends it when the owner dies; every change of a ring's
// state happens under that lock, by the claimer or by the consumer reclaiming it.
#pragma once

#include <sys/types.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {

class Segment;

// The experiment kinds' fields under their own names (layout.hpp: RingRecord).
inline std::uint32_t record_experiment(const RingRecord& r) { return r.version; }
inline std::uint32_t record_arm(const RingRecord& r) { return r.method; }
inline std::uint32_t record_metric(const RingRecord& r) { return r.endpoint_id; }
inline double record_value(const RingRecord& r) { return std::bit_cast<double>(r.coarse_ms); }

// Every field of the record's kind within its range (a consumer skips, and counts, the others).
inline bool valid_record(const RingRecord& r, std::uint32_t endpoint_capacity) {
  switch (r.kind) {
    case kRecordRequest:
      return r.version < kMaxVersions && r.method < kMethodCount && r.endpoint_id < endpoint_capacity;
    case kRecordExposure:
    case kRecordEvent:
      return record_experiment(r) < kMaxExperiments && record_arm(r) < kMaxArms &&
             record_metric(r) < kMaxExperimentMetrics && std::isfinite(record_value(r));
    default:
      return false;
  }
}

// Where the rings are, from a validated geometry.
struct RingsView {
  std::byte* base = nullptr;  // the ring region (RingsHeader first)
  std::uint64_t stride = 0;
  std::uint32_t count = 0;
  std::uint32_t records = 0;  // per ring, a power of two

  static RingsView of(const Segment& segment);
  RingsHeader& header() const { return *reinterpret_cast<RingsHeader*>(base); }
  RingControl& control(std::uint32_t i) const {
    return *reinterpret_cast<RingControl*>(base + sizeof(RingsHeader) + i * stride);
  }
  RingRecord* slots(std::uint32_t i) const {
    return reinterpret_cast<RingRecord*>(base + sizeof(RingsHeader) + i * stride + sizeof(RingControl));
  }
};

// Claims a free ring for the open file description `lock_fd` (which keeps the lock as long as it
// is open) and returns its index, or -1 when every ring is owned or awaiting reclaim.
int claim_ring(const RingsView& rings, int lock_fd, pid_t owner_pid);

// What a read-only look at one ring shows (canary-shm-dump).
struct RingInfo {
  std::uint32_t index = 0;
  bool owned = false;
  bool alive = false;  // its owner's lock is held
  std::uint32_t owner_pid = 0;
  std::uint64_t records = 0;  // published by the current (or last) owner
  std::uint64_t fill = 0;     // published, not yet drained
  std::uint64_t drops = 0;    // dropped by that owner because the ring was full
  std::uint64_t claims = 0;
};
std::vector<RingInfo> inspect_rings(const Segment& segment);

struct DrainStats {
  std::uint64_t records = 0;   // handed to the sink
  std::uint64_t invalid = 0;   // records with out-of-range fields, skipped
  std::uint64_t overrun = 0;   // positions a corrupt head claimed beyond the ring's capacity
};

struct ReclaimStats {
  std::uint32_t rings = 0;        // dead writers' rings made free
  std::uint64_t discarded = 0;    // their undrained records, counted as dropped (reap only)
  std::uint64_t unanswered = 0;   // requests they had in flight, counted as status 0
};

// More requests in flight on one ring than this is a corrupt segment, not a busy thread.
inline constexpr std::uint32_t kMaxInFlightPerCell = 1u << 20;

// The single consumer of every ring. Holding one means holding the aggregator lock byte, so two
// consumers never run at once.
class RingConsumer {
 public:
  // Refuses (Errc::busy) when another process holds the aggregator lock.
  static Expected<RingConsumer> open(Segment& segment);
  RingConsumer(RingConsumer&&) noexcept;
  RingConsumer& operator=(RingConsumer&&) = delete;
  ~RingConsumer();

  // Hands every published, undrained record of every owned ring to sink(const RingRecord&), then
  // releases the slots. Never waits for a writer. `after_ring()` runs right after each ring's
  // slots are released (the aggregator publishes its drained counts there, so that a kill leaves
  // them and the rings agreeing but for a few instructions).
  template <class Sink, class AfterRing>
  DrainStats drain(Sink&& sink, AfterRing&& after_ring);
  template <class Sink>
  DrainStats drain(Sink&& sink) {
    return drain(sink, [] {});
  }

  // Rings whose owner died: drained into `sink` first, then made free.
  template <class Sink>
  ReclaimStats reclaim_dead(Sink&& sink);

  // Rings whose owner died, without a consumer to give their records to (canary-ctl reap): their
  // undrained records are counted in RingsHeader::reaped_records, then the rings are made free.
  ReclaimStats reap_dead();

 private:
  explicit RingConsumer(Segment& segment);
  template <class Sink>
  DrainStats drain_ring(std::uint32_t i, Sink& sink);
  bool try_take_dead(std::uint32_t i);
  // The requests a dead owner had begun and not recorded: counted as unavailable, then zeroed.
  std::uint64_t count_in_flight(std::uint32_t i);
  void make_free(std::uint32_t i);

  Segment* segment_;
  RingsView rings_;
  std::uint32_t endpoint_capacity_;
  bool holds_lock_ = false;
};

// ----------------------------------------------------------------------------------------------

template <class Sink>
DrainStats RingConsumer::drain_ring(std::uint32_t i, Sink& sink) {
  DrainStats stats;
  RingControl& ring = rings_.control(i);
  // acquire: pairs with the producer's release store; the records below it are complete.
  const std::uint64_t head = ring.head.load(std::memory_order_acquire);
  // relaxed: only this consumer stores tail.
  std::uint64_t tail = ring.tail.load(std::memory_order_relaxed);
  if (head == tail) return stats;
  if (head - tail > rings_.records) {
    // Only a corrupt segment gets here: skip to the newest ring's worth.
    stats.overrun = head - tail - rings_.records;
    tail = head - rings_.records;
  }
  const std::uint64_t mask = rings_.records - 1;
  const RingRecord* slots = rings_.slots(i);
  for (std::uint64_t pos = tail; pos != head; ++pos) {
    const RingRecord record = slots[pos & mask];
    if (!valid_record(record, endpoint_capacity_)) {
      ++stats.invalid;
      continue;
    }
    sink(record);
    ++stats.records;
  }
  // release: our reads of the slots happen before the producer (acquire) may overwrite them.
  ring.tail.store(head, std::memory_order_release);
  return stats;
}

template <class Sink, class AfterRing>
DrainStats RingConsumer::drain(Sink&& sink, AfterRing&& after_ring) {
  DrainStats total;
  for (std::uint32_t i = 0; i < rings_.count; ++i) {
    // acquire: a ring seen owned has its positions set up by the claimer.
    if (rings_.control(i).state.load(std::memory_order_acquire) != kRingOwned) continue;
    const DrainStats s = drain_ring(i, sink);
    if (s.records + s.invalid + s.overrun > 0) after_ring();
    total.records += s.records;
    total.invalid += s.invalid;
    total.overrun += s.overrun;
  }
  return total;
}

template <class Sink>
ReclaimStats RingConsumer::reclaim_dead(Sink&& sink) {
  ReclaimStats stats;
  for (std::uint32_t i = 0; i < rings_.count; ++i) {
    if (!try_take_dead(i)) continue;
    drain_ring(i, sink);  // the owner is dead: head no longer moves
    stats.unanswered += count_in_flight(i);
    make_free(i);
    ++stats.rings;
  }
  return stats;
}

}  // namespace canary
