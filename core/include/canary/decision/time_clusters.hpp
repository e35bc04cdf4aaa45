// SPDX-License-Identifier: Apache-2.0
// Errors cluster in time as well as in users: a dependency that flaps fails half the requests for
// ten seconds and then none, so a stretch's error count moves far more than independent requests
// would make it, and a bound that treats them as independent proves a breach from one burst.
//
// A stretch (a ramp step, a rolling block) is cut into slices of kSliceSeconds of its own time,
// and the spread of the slices' counts around the stretch's rate gives the time design effect,
// the users' buckets' cluster-robust estimate (user_buckets.hpp) with slices of time as the
// clusters. The absolute triggers take the larger of the two (judge.hpp). A slice is only a
// handful of sums, so a stretch keeps no per-slice history.
//
// A break in the middle of a stretch also spreads its slices (a rate that moved is not one rate),
// so a stretch's bounds slow down after a late break; the change detectors, which restart their
// evidence at every block, catch it instead (stats/change_detector.hpp).
#pragma once

#include <cstdint>

#include "canary/byte_io.hpp"

namespace canary {

class TimeClusters {
 public:
  static constexpr double kSliceSeconds = 10;
  // The absolute triggers hold on a stretch only once it has this many slices: with fewer, one
  // burst can fill every slice and look like a steady rate.
  static constexpr std::uint64_t kMinSlices = 6;

  // One interval of one side: its requests, errors and unavailable responses over dt seconds.
  void add(std::uint64_t requests, std::uint64_t errors, std::uint64_t unavailable, double dt_seconds);

  // The slices so far, the one under way included once it has requests.
  std::uint64_t slices() const;
  double design_effect() const { return effect(errors_, open_errors_); }
  double unavailable_design_effect() const { return effect(unavailable_, open_unavailable_); }

  void serialize(ByteWriter& out) const;
  bool deserialize(ByteReader& in);

 private:
  // Sums over the closed slices of one count k: sum k, sum k^2, sum k n.
  struct Moments {
    double k = 0, kk = 0, kn = 0;
    void add(double k_slice, double n_slice);
  };
  double effect(const Moments& closed, double open_k) const;

  Moments errors_, unavailable_;
  double n_ = 0, nn_ = 0;  // sum n, sum n^2 over the closed slices
  std::uint64_t closed_ = 0;
  double open_n_ = 0, open_errors_ = 0, open_unavailable_ = 0, open_seconds_ = 0;
};

}  // namespace canary
