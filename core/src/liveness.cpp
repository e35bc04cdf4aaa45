// SPDX-License-Identifier: Apache-2.0
#include "canary/liveness.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "canary/clock.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/segment.hpp"

namespace canary {

AggregatorLiveness aggregator_liveness(const Segment& segment) {
  const AggregatorArea& a = segment.aggregator();
  AggregatorLiveness l;
  l.pid = a.pid.load(std::memory_order_relaxed);
  l.heartbeat_unix_ns = a.heartbeat_unix_ns.load(std::memory_order_relaxed);
  const std::uint64_t now = unix_now_ns();
  l.heartbeat_age_s = l.heartbeat_unix_ns != 0 && now > l.heartbeat_unix_ns
                          ? static_cast<double>(now - l.heartbeat_unix_ns) / 1e9
                          : 0.0;
  if (byte_is_locked(segment.fd(), kAggregatorLockByte))
    l.state = l.heartbeat_age_s < kStaleHeartbeatSeconds && l.heartbeat_unix_ns != 0 ? AggregatorState::alive
                                                                                      : AggregatorState::stalled;
  else
    l.state = l.heartbeat_unix_ns == 0 ? AggregatorState::none : AggregatorState::dead;
  return l;
}

SegmentHolder segment_holder(std::string_view name) {
  SegmentHolder holder;
  const int fd = shm_open(("/" + std::string(name)).c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return holder;
  holder.aggregator_alive = byte_is_locked(fd, kAggregatorLockByte);
  close(fd);
  if (holder.aggregator_alive) {
    auto attached = Segment::attach(name, Access::read_only);
    if (attached) holder.pid = attached->aggregator().pid.load(std::memory_order_relaxed);
  }
  return holder;
}

std::string_view to_string(AggregatorState s) {
  switch (s) {
    case AggregatorState::alive:
      return "alive";
    case AggregatorState::stalled:
      return "stalled";
    case AggregatorState::dead:
      return "dead";
    default:
      return "none";
  }
}

}  // namespace canary
