// SPDX-License-Identifier: Apache-2.0
#include "canary/ring.hpp"

#include <unistd.h>

#include "canary/clock.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/segment.hpp"
#include "canary/slab.hpp"

namespace canary {

RingsView RingsView::of(const Segment& segment) {
  const SegmentGeometry& g = segment.geometry();
  return RingsView{segment.region(RegionId::rings), g.ring_stride, g.params.ring_count, g.params.ring_records};
}

int claim_ring(const RingsView& rings, int lock_fd, pid_t owner_pid) {
  // Start at a pid-dependent ring so that workers forked together do not all race for ring 0.
  const std::uint32_t start = static_cast<std::uint32_t>(owner_pid) % rings.count;
  for (std::uint32_t n = 0; n < rings.count; ++n) {
    const std::uint32_t i = (start + n) % rings.count;
    RingControl& ring = rings.control(i);
    // relaxed: a hint only; the decision is re-made under the lock.
    if (ring.state.load(std::memory_order_relaxed) != kRingFree) continue;
    if (!try_lock_byte(lock_fd, kRingLockBase + i)) continue;
    // acquire: sees the positions the reclaiming consumer left (head == tail).
    if (ring.state.load(std::memory_order_acquire) != kRingFree) {
      // Owned by a dead writer and not yet drained: the consumer's, not ours.
      unlock_byte(lock_fd, kRingLockBase + i);
      continue;
    }
    ring.owner_pid.store(static_cast<std::uint32_t>(owner_pid), std::memory_order_relaxed);
    ring.claims.fetch_add(1, std::memory_order_relaxed);
    ring.claimed_unix_ns.store(unix_now_ns(), std::memory_order_relaxed);
    ring.first_position.store(ring.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    ring.drops.store(0, std::memory_order_relaxed);
    for (auto& drops : ring.experiment_drops) drops.store(0, std::memory_order_relaxed);
    // The consumer zeroes a dead owner's marks when it frees the ring; zero them again so that a
    // corrupt segment cannot hand this owner marks it never made.
    for (auto& by_endpoint : ring.in_flight)
      for (auto& cell : by_endpoint) cell.store(0, std::memory_order_relaxed);
    // release: the fields above are visible to whoever sees the ring owned.
    ring.state.store(kRingOwned, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

std::vector<RingInfo> inspect_rings(const Segment& segment) {
  const RingsView rings = RingsView::of(segment);
  std::vector<RingInfo> out;
  out.reserve(rings.count);
  for (std::uint32_t i = 0; i < rings.count; ++i) {
    const RingControl& r = rings.control(i);
    RingInfo info;
    info.index = i;
    info.owned = r.state.load(std::memory_order_acquire) == kRingOwned;
    info.owner_pid = r.owner_pid.load(std::memory_order_relaxed);
    const std::uint64_t head = r.head.load(std::memory_order_acquire);
    info.records = head - r.first_position.load(std::memory_order_relaxed);
    info.fill = head - r.tail.load(std::memory_order_relaxed);
    info.drops = r.drops.load(std::memory_order_relaxed);
    info.claims = r.claims.load(std::memory_order_relaxed);
    info.alive = info.owned && byte_is_locked(segment.fd(), kRingLockBase + i);
    out.push_back(info);
  }
  return out;
}

RingConsumer::RingConsumer(Segment& segment)
    : segment_(&segment),
      rings_(RingsView::of(segment)),
      endpoint_capacity_(segment.geometry().params.endpoint_capacity) {}

Expected<RingConsumer> RingConsumer::open(Segment& segment) {
  if (segment.access() != Access::read_write) return Status{Errc::invalid_argument, "segment is attached read-only"};
  if (!try_lock_byte(segment.fd(), kAggregatorLockByte))
    return Status{Errc::busy, "an aggregator is running on segment '" + segment.name() + "'; it drains and reclaims rings itself"};
  RingConsumer consumer(segment);
  consumer.holds_lock_ = true;
  return consumer;
}

RingConsumer::RingConsumer(RingConsumer&& other) noexcept
    : segment_(other.segment_),
      rings_(other.rings_),
      endpoint_capacity_(other.endpoint_capacity_),
      holds_lock_(other.holds_lock_) {
  other.holds_lock_ = false;
}

RingConsumer::~RingConsumer() {
  if (holds_lock_) unlock_byte(segment_->fd(), kAggregatorLockByte);
}

bool RingConsumer::try_take_dead(std::uint32_t i) {
  if (rings_.control(i).state.load(std::memory_order_acquire) != kRingOwned) return false;
  // The lock is free only if the owner's descriptor is closed: it died, or its thread ended.
  if (!try_lock_byte(segment_->fd(), kRingLockBase + i)) return false;
  if (rings_.control(i).state.load(std::memory_order_acquire) != kRingOwned) {
    unlock_byte(segment_->fd(), kRingLockBase + i);
    return false;
  }
  return true;
}

std::uint64_t RingConsumer::count_in_flight(std::uint32_t i) {
  RingControl& ring = rings_.control(i);
  std::uint64_t counted = 0;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    for (std::uint32_t e = 0; e < kMaxEndpoints; ++e) {
      // relaxed: the owner is dead (we hold its lock byte), so these no longer change.
      const std::uint32_t n = ring.in_flight[v][e].load(std::memory_order_relaxed);
      if (n == 0) continue;
      ring.in_flight[v][e].store(0, std::memory_order_relaxed);
      if (n > kMaxInFlightPerCell || e >= endpoint_capacity_) {
        segment_->rings_header().invalid_in_flight.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      add_unanswered(*segment_, v, static_cast<EndpointId>(e), n);
      counted += n;
    }
  if (counted > 0) segment_->rings_header().crashed_in_flight.fetch_add(counted, std::memory_order_relaxed);
  return counted;
}

void RingConsumer::make_free(std::uint32_t i) {
  RingControl& ring = rings_.control(i);
  // Anything still published is discarded: the callers have drained or counted it.
  ring.tail.store(ring.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
  ring.owner_pid.store(0, std::memory_order_relaxed);
  segment_->rings_header().retired_full_drops.fetch_add(ring.drops.load(std::memory_order_relaxed),
                                                        std::memory_order_relaxed);
  ring.drops.store(0, std::memory_order_relaxed);
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    segment_->rings_header().retired_experiment_drops[x].fetch_add(ring.experiment_drops[x].load(std::memory_order_relaxed),
                                                                    std::memory_order_relaxed);
    ring.experiment_drops[x].store(0, std::memory_order_relaxed);
  }
  // release: the positions above are visible to the next claimer (acquire).
  ring.state.store(kRingFree, std::memory_order_release);
  segment_->rings_header().reclaimed_rings.fetch_add(1, std::memory_order_relaxed);
  unlock_byte(segment_->fd(), kRingLockBase + i);
}

ReclaimStats RingConsumer::reap_dead() {
  ReclaimStats stats;
  for (std::uint32_t i = 0; i < rings_.count; ++i) {
    if (!try_take_dead(i)) continue;
    RingControl& ring = rings_.control(i);
    const std::uint64_t undrained = ring.head.load(std::memory_order_acquire) - ring.tail.load(std::memory_order_relaxed);
    const std::uint64_t counted = undrained > rings_.records ? rings_.records : undrained;
    segment_->rings_header().reaped_records.fetch_add(counted, std::memory_order_relaxed);
    stats.discarded += counted;
    stats.unanswered += count_in_flight(i);
    make_free(i);
    ++stats.rings;
  }
  return stats;
}

}  // namespace canary
