// SPDX-License-Identifier: Apache-2.0
#include "canary/geometry.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace canary {

namespace {

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t to) { return (v + to - 1) / to * to; }

bool is_power_of_two(std::uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

std::string check_params(const SegmentParams& p) {
  std::ostringstream why;
  if (p.cpu_slots < 1 || p.cpu_slots > kMaxCpuSlots)
    why << "cpu slots " << p.cpu_slots << " outside 1.." << kMaxCpuSlots;
  else if (p.endpoint_capacity < kMinEndpointCapacity || p.endpoint_capacity > kMaxEndpoints)
    why << "endpoint capacity " << p.endpoint_capacity << " outside " << kMinEndpointCapacity << ".."
        << kMaxEndpoints;
  else if (p.ring_count < 1 || p.ring_count > kMaxRingCount)
    why << "ring count " << p.ring_count << " outside 1.." << kMaxRingCount;
  else if (!is_power_of_two(p.ring_records) || p.ring_records < kMinRingRecords ||
           p.ring_records > kMaxRingRecords)
    why << "ring records " << p.ring_records << " is not a power of two in " << kMinRingRecords << ".."
        << kMaxRingRecords;
  return why.str();
}

SegmentGeometry compute_geometry(const SegmentParams& p) {
  SegmentGeometry g;
  g.params = p;
  const std::uint64_t cells = std::uint64_t{kMaxVersions} * p.endpoint_capacity;
  g.slab_count = 2 * p.cpu_slots + 1;
  g.slab_histograms_offset = sizeof(SlabHeader) + cells * sizeof(CounterCell);
  g.slab_stride =
      round_up(g.slab_histograms_offset + cells * kHistogramBuckets * sizeof(std::uint64_t), kPageSize);
  g.ring_stride = round_up(sizeof(RingControl) + std::uint64_t{p.ring_records} * sizeof(RingRecord), kPageSize);

  const std::uint64_t sizes[kRegionCount] = {
      round_up(sizeof(ConfigBlock), kPageSize),
      g.slab_stride * g.slab_count,
      sizeof(RingsHeader) + g.ring_stride * p.ring_count,
      kAggregatorRegionSize,
      kEventsRegionSize,
  };
  std::uint64_t offset = sizeof(SegmentHeader);
  for (std::uint32_t i = 0; i < kRegionCount; ++i) {
    g.regions[i] = {offset, sizes[i]};
    offset += sizes[i];
  }
  g.total_size = offset;
  return g;
}

std::uint32_t possible_cpu_count() {
  // The file lists ascending ranges such as "0-3" or "0-1,4-7". Slabs are indexed by CPU id, so
  // what matters is the last number: the highest id.
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string text;
  if (in && std::getline(in, text)) {
    const auto last = text.find_last_of("0123456789");
    if (last != std::string::npos) {
      const auto before = text.find_last_not_of("0123456789", last);
      const auto first = before == std::string::npos ? 0 : before + 1;
      std::uint32_t highest = 0;
      auto [ptr, ec] = std::from_chars(text.data() + first, text.data() + last + 1, highest);
      if (ec == std::errc() && highest < kMaxCpuSlots) return highest + 1;
    }
  }
  long n = sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 && n <= static_cast<long>(kMaxCpuSlots) ? static_cast<std::uint32_t>(n) : 1;
}

}  // namespace canary
