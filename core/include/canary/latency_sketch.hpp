// SPDX-License-Identifier: Apache-2.0
// A latency histogram with a relative-error guarantee, kept beside each t-digest so that every
// reported P50/P95/P99 is within 0.25% of the exact value (lower nearest rank, SPEC 5), whatever
// the distribution: gaps, spikes, a tail clamped at a timeout.
//
// Bins over whole microseconds: 0..1023 one per value, then 512 per power of two up to 2^32, so a
// bin [lo, hi] is at most lo/512 wide (0.2%). The counts are exact and merge exactly, so the bin
// that holds the sample of rank ceil(q n) is known in any window, single or merged. The t-digest
// interpolates; its estimate is then held inside that bin, where every value is within 0.2% of the
// exact quantile. A t-digest alone interpolates across gaps (1.8-6.6% off at a hard edge in an
// audit, hundreds of percent across a wide gap); held by its bin it cannot be off by more than the
// bin, and where it is exact (a block of equal values) it stays exact.
//
// Three forms: dense (a counter per bin, in blocks of 512 bins allocated as samples reach them: a
// service's latencies span a few powers of two, so 10-30 KB of the 98 KB every bin would take)
// while samples are added one by one; sparse (the bins in use, 12 bytes each) while sketches are
// merged into it; frozen (the bins in use as varints of the gap to the previous bin and the count,
// about 2-3 bytes each) once kept, which is also the serialized form. Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canary {

class TDigest;

class LatencySketch {
 public:
  static constexpr std::uint32_t kExactBins = 1024;
  static constexpr std::uint32_t kBinsPerOctave = 512;
  static constexpr std::uint32_t kBins = kExactBins + (32 - 10) * kBinsPerOctave;  // 12,288
  // What SPEC and the issues promise: a reported quantile within 0.25% of the exact one. The bins
  // give 1/512 = 0.195%.
  static constexpr double kRelativeBound = 0.0025;

  static std::uint32_t bin_of(std::uint64_t us);
  static std::uint64_t bin_low(std::uint32_t bin);   // smallest value in the bin
  static std::uint64_t bin_high(std::uint32_t bin);  // largest value in the bin

  void add(std::uint64_t us);
  void merge(const LatencySketch& other);
  void clear();
  // To the frozen form, giving back every other buffer: for sketches that are kept, not fed.
  void compact();
  // What the sketch holds on the heap (capacities: what malloc gave it).
  std::size_t heap_bytes() const;

  std::uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The bin holding the sample of 1-based rank `rank` (1..count).
  std::optional<std::uint32_t> bin_at_rank(std::uint64_t rank) const;
  std::size_t bins_in_use() const;

  // "LSK2", then varints: the count, the number of bins in use, and for each bin in ascending
  // order the gap to the previous one (the first: its index) and its count.
  std::string serialize() const;
  // nullopt for anything malformed: wrong magic or sizes, bins out of range or out of order.
  static std::optional<LatencySketch> deserialize(std::string_view bytes);

 private:
  template <class F>
  void for_each(F&& f) const;

  static constexpr std::uint32_t kBlockBins = 512;
  static constexpr std::uint32_t kBlocks = kBins / kBlockBins;
  // Dense form: the counts of the blocks samples reached, kBlockBins each, in the order they were
  // first reached; block b is the (block_slot_[b] - 1)th of dense_ (0: not reached). Empty: not dense.
  std::vector<std::uint64_t> dense_;
  std::uint8_t block_slot_[kBlocks] = {};
  std::uint32_t dense_low_ = kBins, dense_high_ = 0;  // the bins dense_ has touched
  std::vector<std::uint32_t> bins_;   // sparse form: ascending bins...
  std::vector<std::uint64_t> counts_;  // ...and their counts
  std::string frozen_;                 // frozen form: serialize()'s bytes
  std::uint64_t count_ = 0;

  void thaw();
  void to_dense();
  std::uint64_t& dense_count(std::uint32_t bin);
};

// The q-quantile (lower nearest rank) as reported: the digest's estimate held within
// LatencySketch::kRelativeBound of the exact value by the sketch of the same samples. NaN when
// there are none.
double bounded_quantile(TDigest& digest, const LatencySketch& sketch, double q);

}  // namespace canary
