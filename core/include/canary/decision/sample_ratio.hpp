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
// regard to their version, so they cost power, not validity. Requests with no user id (always
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

  // A drained record (version 0 legacy, 1 canary).
  void add(std::uint64_t user_hash, std::uint32_t version, std::uint32_t endpoint);
  // The interval's end, with the routing in force now; updates the status.
  void end_interval(const ConfigData& config, std::uint32_t capacity);
  // A new rollout forgets the users too; a person's srm-clear keeps them (they were counted).
  void restart(bool forget_users);

  const SrmStatus& status() const { return status_; }

 private:
  struct Pending {
    std::uint64_t users = 0;
    std::uint64_t canary = 0;
  };
  bool first_time(std::uint64_t key);  // sets the key's bits; true if one was unset
  std::vector<std::uint8_t> routing_shape(const ConfigData& config, std::uint32_t capacity) const;

  std::vector<std::uint64_t> seen_;            // the Bloom filter's bits
  std::vector<Pending> pending_overall_;       // this interval, by the endpoint of the first request
  std::vector<Pending> pending_endpoint_;      // this interval, first requests on each endpoint
  stats::SplitTest overall_;
  std::vector<stats::SplitTest> endpoints_;
  std::vector<std::uint8_t> shape_now_, shape_before_;
  SrmStatus status_;
};

}  // namespace canary
