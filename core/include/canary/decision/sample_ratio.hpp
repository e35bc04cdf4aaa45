// SPDX-License-Identifier: Apache-2.0
// The sample-ratio-mismatch check (SPEC section 10): does the observed split between the versions
// match the configured share? A router bug, a worker that drops the canary's records, or a
// canary that loses users shows up here before it biases any other decision.
//
// It counts distinct users, not requests: a user's requests all go to one version, so requests
// are not independent draws (one heavy user moves the request split far more than chance does),
// while users are: under correct routing each new user is a canary user with probability equal to
// the share, independently (the bucket is a hash of the id). A user counts once per rollout, at
// their first drained request, in the stratum of the share in force (stats/split_test.hpp);
// "first" is kept by a Bloom filter (8 MiB), whose false positives skip a few new users without
// regard to their version, so they cost power, not validity. The filter is blocked (a user's bits,
// overall and per endpoint, share one cache line) and records wait in a small batch, so that the
// line of a record further on is prefetched while this one is looked up: a drain of millions of
// records a second does not stall on one memory access per record. Requests with no user id (always
// legacy) are not counted.
//
// Overall and per endpoint (the user's first request on that endpoint, where the endpoint routes
// to the canary), at a family-wise alpha of 0.001: half for the overall test, half split over the
// endpoints. An interval whose routing (share, switches, salt, endpoint flags, pins) changed
// during it or the one before is not counted: its records may have been routed by either.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canary/layout.hpp"
#include "canary/stats/split_test.hpp"

namespace canary {

struct SrmStatus {
  bool detected = false;
  std::string endpoint;  // where it was found; empty: the overall split
  double observed = 0;   // the canary's share of the users counted
  double expected = 0;   // what the configured shares expect of it
  std::uint64_t requests = 0;  // users counted: each by their first request
  double log_evidence = 0;
  double log_evidence_level = 0;
  std::uint64_t skipped_intervals = 0;  // intervals not counted because the routing changed
};

class SampleRatioCheck {
 public:
  static constexpr double kAlpha = 0.001;

  SampleRatioCheck();

  // A drained record (version 0 the baseline, 1 the candidate judged).
  void add(std::uint64_t user_hash, std::uint32_t version, std::uint32_t endpoint) {
    if (user_hash == 0 || endpoint >= kMaxEndpoints || version > 1) return;  // no user id: always legacy
    batch_.push_back({user_hash, block_of(user_hash), static_cast<std::uint16_t>(endpoint), static_cast<std::uint8_t>(version)});
    if (batch_.size() == kBatch) look_up_batch();
  }
  // The interval's end, with the routing in force now; updates the status.
  void end_interval(const ConfigData& config, std::uint32_t capacity, std::uint32_t candidate = kFirstCandidate);
  // A new rollout forgets the users too; a person's srm-clear keeps them (they were counted).
  void restart(bool forget_users);

  const SrmStatus& status() const { return status_; }
  // The Bloom filter (8 MiB once the first user came) and the interval's buffers.
  std::size_t heap_bytes() const {
    return seen_.capacity() * sizeof(Block) + batch_.capacity() * sizeof(Seen) +
           (pending_overall_.capacity() + pending_endpoint_.capacity()) * sizeof(Pending) +
           endpoints_.capacity() * sizeof(stats::SplitTest) + shape_now_.capacity() + shape_before_.capacity();
  }

 private:
  struct Pending {
    std::uint64_t users = 0;
    std::uint64_t canary = 0;
  };
  struct Seen {
    std::uint64_t user_hash;
    std::uint32_t block;  // of the Bloom filter: where the user's bits are
    std::uint16_t endpoint;
    std::uint8_t version;
  };
  struct alignas(64) Block {
    std::uint64_t bits[8];
  };
  static constexpr std::size_t kBatch = 1024;
  static constexpr unsigned kBlockBits = 17;  // 2^17 lines of 64 bytes, 8 MiB: about 5% false positives at 10M keys
  // splitmix64's finaliser: the Bloom filter's positions share no bits with the routing bucket.
  static std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  static std::uint32_t block_of(std::uint64_t user_hash) { return static_cast<std::uint32_t>(mix(user_hash) >> (64 - kBlockBits)); }
  void look_up_batch();
  void look_up(const Seen& s);
  std::vector<std::uint8_t> routing_shape(const ConfigData& config, std::uint32_t capacity, std::uint32_t candidate) const;

  std::vector<Block> seen_;                    // the Bloom filter
  std::vector<Seen> batch_;                    // drained, not yet looked up
  std::vector<Pending> pending_overall_;       // this interval, by the endpoint of the first request
  std::vector<Pending> pending_endpoint_;      // this interval, first requests on each endpoint
  stats::SplitTest overall_;
  std::vector<stats::SplitTest> endpoints_;
  std::vector<std::uint8_t> shape_now_, shape_before_;
  SrmStatus status_;
};

}  // namespace canary
