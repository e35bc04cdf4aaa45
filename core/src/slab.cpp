// SPDX-License-Identifier: Apache-2.0
#include "canary/slab.hpp"

#include <algorithm>

#include "canary/segment.hpp"

namespace canary {

std::uint64_t Counts::of_class(StatusClass c) const {
  std::uint64_t n = 0;
  for (std::uint32_t m = 0; m < kMethodCount; ++m) n += requests[m][static_cast<std::uint32_t>(c)];
  return n;
}

std::uint64_t Counts::total() const {
  std::uint64_t n = 0;
  for (const auto& by_class : requests)
    for (std::uint64_t v : by_class) n += v;
  return n;
}

Counts& Counts::operator+=(const Counts& other) {
  for (std::uint32_t m = 0; m < kMethodCount; ++m)
    for (std::uint32_t c = 0; c < kStatusClassCount; ++c) requests[m][c] += other.requests[m][c];
  unavailable_502_504 += other.unavailable_502_504;
  latency_sum_us += other.latency_sum_us;
  return *this;
}

Counts SlabTotals::version_total(Version v) const {
  Counts sum;
  for (std::uint32_t e = 0; e < endpoint_capacity; ++e) sum += at(v, static_cast<EndpointId>(e));
  return sum;
}

namespace {

std::uint64_t load(const std::byte* slab, std::uint64_t offset) {
  // relaxed: counters are independent monotone sums; nothing else is read through them.
  return __atomic_load_n(reinterpret_cast<const std::uint64_t*>(slab + offset), __ATOMIC_RELAXED);
}

}  // namespace

SlabTotals sum_slabs(const Segment& segment, bool with_histograms) {
  const SegmentGeometry& g = segment.geometry();
  const SlabOffsets at{g.params.endpoint_capacity, g.slab_histograms_offset};
  const std::uint64_t pairs = std::uint64_t{kMaxVersions} * g.params.endpoint_capacity;
  SlabTotals totals;
  totals.endpoint_capacity = g.params.endpoint_capacity;
  totals.cells.resize(pairs);
  if (with_histograms) totals.histograms.resize(pairs * kHistogramBuckets);

  const std::byte* slabs = segment.region(RegionId::slabs);
  for (std::uint32_t s = 0; s < g.slab_count; ++s) {
    const std::byte* slab = slabs + s * g.slab_stride;
    // Untouched slabs are all zero; skipping them keeps the pages of absent CPUs unallocated.
    if (load(slab, offsetof(SlabHeader, touched)) == 0) continue;
    for (std::uint64_t p = 0; p < pairs; ++p) {
      Counts& c = totals.cells[p];
      for (std::uint32_t m = 0; m < kMethodCount; ++m)
        for (std::uint32_t k = 0; k < kSlabClassCount; ++k) {
          const std::uint64_t offset = at.requests(p, m, k);
          const std::uint64_t n = load(slab, offset + offsetof(CountAndSum, count));
          c.latency_sum_us += load(slab, offset + offsetof(CountAndSum, latency_sum_us));
          if (k == kSlabClassUnavailable5xx) {
            c.requests[m][static_cast<std::uint32_t>(StatusClass::c5xx)] += n;
            c.unavailable_502_504 += n;
          } else {
            c.requests[m][k] += n;
          }
        }
    }
  }
  // Histograms second, and only of pairs that counted a request in some slab: a pair without one
  // would be cut to nothing below anyway, and not reading its 10.8 KB per slab keeps the pages of
  // versions and endpoints that never record unallocated (reading a hole of /dev/shm allocates it).
  if (with_histograms)
    for (std::uint32_t s = 0; s < g.slab_count; ++s) {
      const std::byte* slab = slabs + s * g.slab_stride;
      if (load(slab, offsetof(SlabHeader, touched)) == 0) continue;
      for (std::uint64_t p = 0; p < pairs; ++p) {
        if (totals.cells[p].total() == 0) continue;
        for (std::uint32_t b = 0; b < kHistogramBuckets; ++b)
          totals.histograms[p * kHistogramBuckets + b] += load(slab, at.bucket(p, b));
      }
    }
  if (with_histograms)
    for (std::uint64_t p = 0; p < pairs; ++p) {
      std::uint64_t* h = &totals.histograms[p * kHistogramBuckets];
      std::uint64_t entries = 0;
      for (std::uint32_t b = 0; b < kHistogramBuckets; ++b) entries += h[b];
      std::uint64_t excess = entries - std::min(entries, totals.cells[p].total());
      for (std::uint32_t b = kHistogramBuckets; b-- > 0 && excess > 0;) {
        const std::uint64_t cut = std::min(h[b], excess);
        h[b] -= cut;
        excess -= cut;
      }
    }
  return totals;
}

void add_unanswered(Segment& segment, std::uint32_t version, EndpointId endpoint, std::uint64_t n) {
  const SegmentGeometry& g = segment.geometry();
  if (version >= kMaxVersions || endpoint >= g.params.endpoint_capacity || n == 0) return;
  const SlabOffsets at{g.params.endpoint_capacity, g.slab_histograms_offset};
  std::byte* overflow = segment.region(RegionId::slabs) + (g.slab_count - 1) * g.slab_stride;
  // relaxed: like a writer's adds, independent monotone counts (the overflow slab takes atomic adds).
  __atomic_store_n(reinterpret_cast<std::uint64_t*>(overflow + offsetof(SlabHeader, touched)), 1, __ATOMIC_RELAXED);
  const std::uint64_t offset = at.requests(at.pair(version, endpoint), static_cast<std::uint32_t>(Method::other),
                                           static_cast<std::uint32_t>(StatusClass::none));
  __atomic_fetch_add(reinterpret_cast<std::uint64_t*>(overflow + offset + offsetof(CountAndSum, count)), n,
                     __ATOMIC_RELAXED);
}

}  // namespace canary
