// SPDX-License-Identifier: Apache-2.0
#include "canary/latency_sketch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "canary/detail/release_memory.hpp"
#include "canary/tdigest.hpp"

namespace canary {

namespace {

constexpr char kMagic[4] = {'L', 'S', 'K', '2'};

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// False at the end of the input or on a varint longer than 64 bits.
bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// The bins of a frozen sketch, validated when it was made: the header's two varints, then pairs.
template <class F>
void for_each_frozen(std::string_view bytes, F&& f) {
  bytes.remove_prefix(4);
  std::uint64_t count = 0, entries = 0, bin = 0, gap = 0, n = 0;
  get_varint(bytes, count);
  get_varint(bytes, entries);
  for (std::uint64_t i = 0; i < entries && get_varint(bytes, gap) && get_varint(bytes, n); ++i) {
    bin += gap;
    f(static_cast<std::uint32_t>(bin), n);
  }
}

}  // namespace

std::uint32_t LatencySketch::bin_of(std::uint64_t us) {
  if (us < kExactBins) return static_cast<std::uint32_t>(us);
  if (us > UINT32_MAX) us = UINT32_MAX;
  const auto octave = static_cast<std::uint32_t>(63 - __builtin_clzll(us));  // 10 .. 31
  const auto sub = static_cast<std::uint32_t>(us >> (octave - 9)) & (kBinsPerOctave - 1);
  return kExactBins + (octave - 10) * kBinsPerOctave + sub;
}

std::uint64_t LatencySketch::bin_low(std::uint32_t bin) {
  if (bin < kExactBins) return bin;
  const std::uint32_t octave = 10 + (bin - kExactBins) / kBinsPerOctave;
  const std::uint64_t sub = (bin - kExactBins) % kBinsPerOctave;
  return (kBinsPerOctave + sub) << (octave - 9);
}

std::uint64_t LatencySketch::bin_high(std::uint32_t bin) {
  if (bin < kExactBins) return bin;
  const std::uint32_t octave = 10 + (bin - kExactBins) / kBinsPerOctave;
  return bin_low(bin) + (std::uint64_t{1} << (octave - 9)) - 1;
}

static_assert(LatencySketch::kBins == 12288);

void LatencySketch::thaw() {
  if (frozen_.empty()) return;
  for_each_frozen(frozen_, [this](std::uint32_t b, std::uint64_t n) {
    bins_.push_back(b);
    counts_.push_back(n);
  });
  detail::release_memory(frozen_);
}

std::uint64_t& LatencySketch::dense_count(std::uint32_t bin) {
  const std::uint32_t block = bin / kBlockBins;
  if (block_slot_[block] == 0) {
    // One block more, exactly: a new power of two of latency is rare, memory is kept for long.
    dense_.reserve(dense_.size() + kBlockBins);
    dense_.resize(dense_.size() + kBlockBins, 0);
    block_slot_[block] = static_cast<std::uint8_t>(dense_.size() / kBlockBins);
  }
  dense_low_ = std::min(dense_low_, bin);
  dense_high_ = std::max(dense_high_, bin);
  return dense_[(block_slot_[block] - 1u) * std::size_t{kBlockBins} + bin % kBlockBins];
}

void LatencySketch::to_dense() {
  thaw();
  // To the dense form, keeping what the sparse one held.
  for (std::size_t i = 0; i < bins_.size(); ++i) dense_count(bins_[i]) = counts_[i];
  detail::release_memory(bins_);
  detail::release_memory(counts_);
}

void LatencySketch::add(std::uint64_t us) {
  if (dense_.empty()) to_dense();
  ++dense_count(bin_of(us));
  ++count_;
}

template <class F>
void LatencySketch::for_each(F&& f) const {
  if (!dense_.empty()) {
    for (std::uint32_t b = dense_low_; b <= dense_high_ && b < kBins; ++b) {
      const std::uint8_t slot = block_slot_[b / kBlockBins];
      if (slot == 0) {
        b = (b / kBlockBins + 1) * kBlockBins - 1;  // the block was never reached: past it
        continue;
      }
      const std::uint64_t n = dense_[(slot - 1u) * std::size_t{kBlockBins} + b % kBlockBins];
      if (n != 0) f(b, n);
    }
    return;
  }
  if (!frozen_.empty()) return for_each_frozen(frozen_, f);
  for (std::size_t i = 0; i < bins_.size(); ++i) f(bins_[i], counts_[i]);
}

void LatencySketch::merge(const LatencySketch& other) {
  if (other.empty()) return;
  thaw();
  if (!dense_.empty()) {
    other.for_each([this](std::uint32_t b, std::uint64_t n) { dense_count(b) += n; });
  } else {
    // Sparse with anything: a merge of two ascending lists.
    std::vector<std::uint32_t> bins;
    std::vector<std::uint64_t> counts;
    bins.reserve(bins_.size() + other.bins_in_use());
    counts.reserve(bins.capacity());
    std::size_t i = 0;
    other.for_each([&](std::uint32_t b, std::uint64_t n) {
      while (i < bins_.size() && bins_[i] < b) {
        bins.push_back(bins_[i]);
        counts.push_back(counts_[i++]);
      }
      if (i < bins_.size() && bins_[i] == b) n += counts_[i++];
      bins.push_back(b);
      counts.push_back(n);
    });
    for (; i < bins_.size(); ++i) {
      bins.push_back(bins_[i]);
      counts.push_back(counts_[i]);
    }
    bins_ = std::move(bins);
    counts_ = std::move(counts);
  }
  count_ += other.count_;
}

void LatencySketch::clear() {
  std::fill(dense_.begin(), dense_.end(), 0);  // the blocks stay, for the next interval's samples
  dense_low_ = kBins;
  dense_high_ = 0;
  bins_.clear();
  counts_.clear();
  frozen_.clear();
  count_ = 0;
}

void LatencySketch::compact() {
  if (!frozen_.empty()) return;
  std::string bytes = empty() ? std::string() : serialize();
  bytes.shrink_to_fit();  // serialize() grew it by doubling
  detail::release_memory(dense_);
  std::fill(std::begin(block_slot_), std::end(block_slot_), 0);
  dense_low_ = kBins;
  dense_high_ = 0;
  detail::release_memory(bins_);
  detail::release_memory(counts_);
  frozen_ = std::move(bytes);
}

std::size_t LatencySketch::heap_bytes() const {
  // A std::string keeps up to 15 bytes in the object itself.
  const std::size_t frozen = frozen_.capacity() > 15 ? frozen_.capacity() + 1 : 0;
  return dense_.capacity() * sizeof(std::uint64_t) + bins_.capacity() * sizeof(std::uint32_t) +
         counts_.capacity() * sizeof(std::uint64_t) + frozen;
}

std::size_t LatencySketch::bins_in_use() const {
  std::size_t n = 0;
  for_each([&](std::uint32_t, std::uint64_t) { ++n; });
  return n;
}

std::optional<std::uint32_t> LatencySketch::bin_at_rank(std::uint64_t rank) const {
  if (rank == 0 || rank > count_) return std::nullopt;
  std::uint64_t seen = 0;
  std::optional<std::uint32_t> found;
  for_each([&](std::uint32_t b, std::uint64_t n) {
    if (found) return;
    seen += n;
    if (seen >= rank) found = b;
  });
  return found;
}

std::string LatencySketch::serialize() const {
  if (!frozen_.empty()) return frozen_;
  std::string out(kMagic, sizeof kMagic);
  put_varint(out, count_);
  put_varint(out, bins_in_use());
  std::uint32_t previous = 0;
  for_each([&](std::uint32_t b, std::uint64_t n) {
    put_varint(out, b - previous);
    put_varint(out, n);
    previous = b;
  });
  return out;
}

std::optional<LatencySketch> LatencySketch::deserialize(std::string_view bytes) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  std::string_view in = bytes.substr(sizeof kMagic);
  std::uint64_t count = 0, entries = 0;
  if (!get_varint(in, count) || !get_varint(in, entries) || entries > kBins) return std::nullopt;
  std::uint64_t sum = 0, bin = 0;
  for (std::uint64_t i = 0; i < entries; ++i) {
    std::uint64_t gap = 0, n = 0;
    if (!get_varint(in, gap) || !get_varint(in, n) || (i > 0 && gap == 0) || gap >= kBins || bin + gap >= kBins ||
        n == 0 || sum + n < sum)
      return std::nullopt;
    bin += gap;
    sum += n;
  }
  if (sum != count || !in.empty()) return std::nullopt;
  LatencySketch s;
  s.count_ = count;
  if (count > 0) s.frozen_ = std::string(bytes);
  return s;
}

double bounded_quantile(TDigest& digest, const LatencySketch& sketch, double q) {
  const std::uint64_t n = sketch.count();
  if (n == 0) return digest.empty() ? std::numeric_limits<double>::quiet_NaN() : digest.quantile(q);
  const auto rank = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n))), 1, n);
  const std::uint32_t bin = *sketch.bin_at_rank(rank);
  const auto low = static_cast<double>(LatencySketch::bin_low(bin));
  const auto high = static_cast<double>(LatencySketch::bin_high(bin));
  if (low == high) return low;  // bins below 1,024 us are exact
  const double estimate = digest.empty() ? (low + high) / 2 : digest.quantile(q);
  return std::isfinite(estimate) ? std::clamp(estimate, low, high) : (low + high) / 2;
}

}  // namespace canary
