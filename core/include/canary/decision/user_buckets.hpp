// SPDX-License-Identifier: Apache-2.0
// The user as the unit of evidence. A user's requests are not independent draws: a broken account
// fails every request it sends, a user who retries a failing call sends ten failures, so a
// request-level error rate moves far more than chance says and a binomial interval is too narrow
// (with 2% broken accounts sending 20 requests each, about 5 times too narrow).
//
// The identified users' requests (a user id: user_hash != 0) of each side and endpoint are hashed
// by user into kBuckets buckets. A bucket's totals are sums over independent users, so the spread
// of the bucket totals around their stratum's rate is the variance the users really cause (a
// cluster-robust variance, the buckets as clusters). Its ratio to the binomial variance of the same
// counts is the design effect D (at least 1): the counts are worth what n / D independent requests
// would be, and the judge's intervals take them so (judge.hpp, VersionEvidence::design_effect).
//
// Requests with no user id are not here: they always go to the baseline, so no comparison with a
// candidate may use them (the candidate could not have served them).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "canary/byte_io.hpp"
#include "canary/decision/judge.hpp"
#include "canary/layout.hpp"

namespace canary {

class UserBuckets {
 public:
  static constexpr std::uint32_t kBuckets = 64;
  static constexpr std::uint32_t kSides = 2;

  struct Cell {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;       // as the policy counts them
    std::uint64_t unavailable = 0;  // no response, 502, 503, 504
  };
  // A side's counts over some endpoints, and their design effect.
  struct Tally {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t unavailable = 0;
    double design_effect = 1;              // of the error rate
    double unavailable_design_effect = 1;  // of the unavailable share
  };

  // Adds the interval's requests (the caller clears the interval).
  void merge(const class UserBucketsInterval& interval);
  // A request, straight into the stretch (tests and simulations; the drain goes through
  // UserBucketsInterval). Allocates an endpoint's buckets the first time it is seen.
  void add(std::uint32_t side, std::uint32_t endpoint, std::uint64_t user_hash, bool error, bool unavailable);

  // One endpoint of one side; the design effect of its error rate.
  Tally tally(std::uint32_t side, std::uint32_t endpoint) const;
  // One side over the endpoints `included` marks (every endpoint when empty): a user's requests on
  // several endpoints fall in one bucket, so they count as one cluster.
  Tally total(std::uint32_t side, const std::vector<bool>& included) const;

  std::size_t heap_bytes() const;
  void serialize(ByteWriter& out) const;
  bool deserialize(ByteReader& in);

  // Independent of the routing bucket (a hash of the id with a salt, modulo 10,000): the top bits
  // of a multiplicative mix.
  static std::uint32_t bucket_of(std::uint64_t user_hash) {
    return static_cast<std::uint32_t>((user_hash * 0x9E3779B97F4A7C15ull) >> 58);
  }
  static_assert(kBuckets == 64, "bucket_of keeps 6 bits");

 private:
  std::vector<Cell>& cells(std::size_t pair) {
    if (cells_[pair].empty()) cells_[pair].resize(kBuckets);
    return cells_[pair];
  }

  std::array<std::vector<Cell>, kSides * kMaxEndpoints> cells_;
};

// What the drain adds to between two intervals: one flat table of 32-bit counters (12 bytes a
// cell, no indirection), so that the cells of the endpoints with traffic stay in cache beside the
// drain's other tables. The engine folds it into its stretches every interval, and sooner when a
// counter could overflow (kFoldAt records).
class UserBucketsInterval {
 public:
  static constexpr std::uint32_t kFoldAt = 1u << 31;

  // A drained request of an identified user (the caller skips user_hash 0). False when it must
  // be folded before the next one.
  bool add(std::uint32_t side, std::uint32_t endpoint, std::uint64_t user_hash, bool error, bool unavailable) {
    if (side >= UserBuckets::kSides || endpoint >= kMaxEndpoints) return true;
    if (!table_) table_ = std::make_unique<Table>();
    const std::size_t pair = side * kMaxEndpoints + endpoint;
    Cell& c = (*table_)[pair][UserBuckets::bucket_of(user_hash)];
    ++c.requests;
    c.errors += error ? 1 : 0;
    c.unavailable += unavailable ? 1 : 0;
    touched_[pair] = true;
    return ++records_ < kFoldAt;
  }
  void clear();
  std::size_t heap_bytes() const { return table_ ? sizeof(Table) : 0; }

 private:
  friend class UserBuckets;
  struct Cell {
    std::uint32_t requests = 0, errors = 0, unavailable = 0;
  };
  using Table = std::array<std::array<Cell, UserBuckets::kBuckets>, UserBuckets::kSides * kMaxEndpoints>;
  std::unique_ptr<Table> table_;  // 192 KiB once the first identified request came
  std::array<bool, UserBuckets::kSides * kMaxEndpoints> touched_{};
  std::uint64_t records_ = 0;
};

// A stretch's comparison with the baseline from its users' buckets (side 0 the baseline, 1 the
// candidate): one stratum per endpoint with a name in `endpoint_names` (indexed by endpoint id;
// empty: not compared), and the design effects of both sides' totals over those endpoints. The
// evidence's request counts stay as they are (the candidate's own traffic, for the absolute
// triggers); only its comparisons change.
void add_user_evidence(const UserBuckets& users, const std::vector<std::string>& endpoint_names, Evidence& e);

}  // namespace canary
