// SPDX-License-Identifier: Apache-2.0
// Counter slabs: where each count of a (version, endpoint) sits inside a slab, and the reader
// that sums every slab into exact totals. Writers add (writer.hpp); only readers sum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "canary/layout.hpp"
#include "canary/types.hpp"

namespace canary {

class Segment;

// Byte offsets inside one slab.
struct SlabOffsets {
  std::uint32_t endpoint_capacity;
  std::uint64_t histograms;  // SegmentGeometry::slab_histograms_offset

  constexpr std::uint64_t pair(std::uint32_t version, EndpointId endpoint) const {
    return std::uint64_t{version} * endpoint_capacity + endpoint;
  }
  constexpr std::uint64_t cell(std::uint64_t pair_index) const {
    return sizeof(SlabHeader) + pair_index * sizeof(CounterCell);
  }
  // The (count, latency sum) pair of a (method, slab class): 16-byte aligned.
  constexpr std::uint64_t requests(std::uint64_t pair_index, std::uint32_t method, std::uint32_t slab_class) const {
    return cell(pair_index) + offsetof(CounterCell, requests) + (method * kSlabClassCount + slab_class) * sizeof(CountAndSum);
  }
  constexpr std::uint64_t bucket(std::uint64_t pair_index, std::uint32_t b) const {
    return histograms + (pair_index * kHistogramBuckets + b) * 8;
  }
};

// The counts of one (version, endpoint), or of a sum of them.
struct Counts {
  std::uint64_t requests[kMethodCount][kStatusClassCount] = {};
  std::uint64_t unavailable_502_504 = 0;
  std::uint64_t latency_sum_us = 0;

  std::uint64_t of_class(StatusClass c) const;
  std::uint64_t total() const;
  std::uint64_t errors() const { return of_class(StatusClass::none) + of_class(StatusClass::c5xx); }
  std::uint64_t client_errors() const { return of_class(StatusClass::c4xx); }
  std::uint64_t unavailable() const { return of_class(StatusClass::none) + unavailable_502_504; }
  Counts& operator+=(const Counts& other);
};

// The slab class of a status code: its StatusClass, or kSlabClassUnavailable5xx for 502-504.
constexpr std::uint32_t slab_class(std::uint32_t status_code) {
  return status_code >= 502 && status_code <= 504 ? kSlabClassUnavailable5xx
                                                  : static_cast<std::uint32_t>(classify_status(status_code));
}

// Every slab summed: exact cumulative counts per (version, endpoint), optionally the histograms.
struct SlabTotals {
  std::uint32_t endpoint_capacity = 0;
  std::vector<Counts> cells;              // [version * capacity + endpoint]
  std::vector<std::uint64_t> histograms;  // [(version * capacity + endpoint) * kHistogramBuckets + b], if asked

  const Counts& at(Version v, EndpointId e) const {
    return cells[static_cast<std::size_t>(v) * endpoint_capacity + e];
  }
  Counts version_total(Version v) const;
};

// Reads every slab a writer has touched with relaxed loads. Concurrent writers make the result a
// moment's snapshot (each counter is exact at some instant); once they stop, it is exact.
//
// A record adds its histogram bucket first and commits its count second, so a histogram can hold
// entries no count has yet (a record in flight, read between its two stores) or ever will (its
// writer was killed between them: at most one per kill). The histograms returned are cut back to
// the count, from the top bucket down, so that every figure reported agrees: a (version, endpoint)
// histogram always holds exactly as many entries as requests were counted.
SlabTotals sum_slabs(const Segment& segment, bool with_histograms);

// Counts `n` requests of (version, endpoint) that were never answered (a writer died with them in
// flight) as status 0 with method `other`, in the overflow slab with atomic adds. They have no
// latency: the count moves, the latency sum and the histogram do not.
void add_unanswered(Segment& segment, std::uint32_t version, EndpointId endpoint, std::uint64_t n);

}  // namespace canary
