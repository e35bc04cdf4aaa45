// SPDX-License-Identifier: Apache-2.0
// Where each region and each slab or ring sits, computed from the four parameters a segment is
// created with. Creator and attacher compute it the same way; an attacher that gets a different
// answer than the header's region table refuses the segment as corrupt.
#pragma once

#include <cstdint>
#include <string>

#include "canary/layout.hpp"

namespace canary {

struct SegmentParams {
  std::uint32_t cpu_slots = 0;
  std::uint32_t endpoint_capacity = 64;
  std::uint32_t ring_count = 64;
  std::uint32_t ring_records = 16384;
};

// Inclusive bounds, checked on create and on attach.
inline constexpr std::uint32_t kMaxCpuSlots = 4096;
inline constexpr std::uint32_t kMinEndpointCapacity = 2;
inline constexpr std::uint32_t kMaxRingCount = 4096;
inline constexpr std::uint32_t kMinRingRecords = 256;
inline constexpr std::uint32_t kMaxRingRecords = 1u << 22;

struct SegmentGeometry {
  SegmentParams params;
  RegionEntry regions[kRegionCount] = {};
  std::uint64_t total_size = 0;
  std::uint32_t slab_count = 0;  // 2 * cpu_slots + 1
  std::uint64_t slab_stride = 0;
  std::uint64_t slab_histograms_offset = 0;  // within a slab
  std::uint64_t ring_stride = 0;

  const RegionEntry& region(RegionId id) const { return regions[static_cast<std::uint32_t>(id)]; }
  std::uint32_t overflow_slab() const { return 2 * params.cpu_slots; }
};

// Returns an empty string when the parameters are valid, otherwise what is wrong with them.
std::string check_params(const SegmentParams& p);

// Requires check_params(p) to be empty.
SegmentGeometry compute_geometry(const SegmentParams& p);

// The number of CPUs the kernel may ever bring online (/sys/devices/system/cpu/possible),
// or the configured count when that file cannot be read.
std::uint32_t possible_cpu_count();

}  // namespace canary
