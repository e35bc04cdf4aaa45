// SPDX-License-Identifier: Apache-2.0
// An always-valid test that units (users, here) fall on one side of a split with the expected
// probability: the sample-ratio-mismatch test. Units come in strata, each with its own expected
// probability p (one per ramp step); under the null every unit of a stratum is Bernoulli(p),
// independently. The alternative moves every stratum's log-odds by the same theta:
//
//   q = logistic(logit(p) + theta)
//
// and the test statistic mixes the likelihood ratios prod (q/p)^k ((1-q)/(1-p))^(n-k) over a grid
// of theta on both sides of 0. A product of likelihood ratios over the units as they come is a
// nonnegative martingale with mean 1 under the null, a mixture of them too, so by Ville's
// inequality it ever reaches 1/alpha with probability at most alpha, however often it is read
// and however the strata follow each other (a share change does not throw evidence away).
#pragma once

#include <cstdint>
#include <map>

namespace canary::stats {

class SplitTest {
 public:
  // n units of a stratum with expected probability p, k of them on the tested side.
  void add(double p, std::uint64_t n, std::uint64_t k);
  void clear() { strata_.clear(); }

  double log_evidence() const;  // of the mixture; 0 before any unit
  std::uint64_t units() const;
  double observed() const;  // the tested side's share of the units (NaN before any)
  double expected() const;  // what the null expects of it, over the same strata

 private:
  struct Counts {
    std::uint64_t n = 0;
    std::uint64_t k = 0;
  };
  std::map<double, Counts> strata_;  // by p: a few ramp steps
};

}  // namespace canary::stats
