// SPDX-License-Identifier: Apache-2.0
// The aggregator's per-user state of one experiment: user hash -> arm, conversions and one value
// per declared metric, in flat arrays with open addressing (linear probing; the key is already a
// hash). A user costs 9 bytes and 8 per metric, at a load of 7/16 to 7/8: 20-40 bytes with one
// metric, 47-94 with four, where a node-based map cost 117-150 whatever the metrics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace canary::experiment {

class UserTable {
 public:
  UserTable() : UserTable(0) {}
  explicit UserTable(std::uint32_t metric_count) : metrics_(metric_count) {}

  static constexpr std::size_t kNone = SIZE_MAX;
  // The user's slot, or kNone.
  std::size_t find(std::uint64_t user) const;
  // A new user's slot (the caller found none); grows the table when it is 7/8 full.
  std::size_t insert(std::uint64_t user, std::uint8_t arm);

  std::uint8_t arm(std::size_t slot) const { return static_cast<std::uint8_t>(meta_[slot] >> 1 & 0x7); }
  bool converted(std::size_t slot, std::uint32_t metric) const { return meta_[slot] >> (4 + metric) & 1; }
  void set_converted(std::size_t slot, std::uint32_t metric) {
    meta_[slot] = static_cast<std::uint8_t>(meta_[slot] | 1u << (4 + metric));
  }
  double& value(std::size_t slot, std::uint32_t metric) { return values_[slot * metrics_ + metric]; }
  double value(std::size_t slot, std::uint32_t metric) const { return values_[slot * metrics_ + metric]; }

  std::uint32_t metric_count() const { return metrics_; }
  std::size_t size() const { return size_; }
  std::size_t heap_bytes() const {
    return keys_.capacity() * sizeof(std::uint64_t) + meta_.capacity() + values_.capacity() * sizeof(double);
  }
  // f(user, arm, converted bits, const double* values) for every user, in no order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < keys_.size(); ++i)
      if (meta_[i] & 1) f(keys_[i], arm(i), static_cast<std::uint8_t>(meta_[i] >> 4), values_.data() + i * metrics_);
  }

  // Arms and conversions fit one byte: bit 0 in use, bits 1-3 the arm, bits 4-7 a conversion per metric.
  static constexpr std::uint32_t kMaxArms = 8;
  static constexpr std::uint32_t kMaxMetrics = 4;

 private:
  // Fibonacci hashing: the high bits of the user times 2^64 / phi. The key is a hash already, but one
  // that a faulty writer could choose; multiplying spreads keys that differ only in high bits.
  std::size_t home(std::uint64_t user) const {
    return static_cast<std::size_t>((user * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow();

  std::uint32_t metrics_;
  std::uint32_t shift_ = 64;  // 64 - log2(slots)
  std::size_t size_ = 0;
  std::vector<std::uint64_t> keys_;   // a power of two of slots, or none
  std::vector<std::uint8_t> meta_;    // 0: a free slot
  std::vector<double> values_;        // metrics_ per slot
};

}  // namespace canary::experiment
