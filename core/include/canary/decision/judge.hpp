// SPDX-License-Identifier: Apache-2.0
// Judging a canary against its policy with confidence sequences (stats/confidence_sequence.hpp).
// A trigger "holds" only when its breach is proven: the whole confidence interval is past the
// threshold. The gate holds only when staying within it is proven. So re-checking every interval
// can neither flap a healthy canary back nor wave through a bad one on a handful of requests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "canary/decision/change_watch.hpp"
#include "canary/decision/policy.hpp"

namespace canary {

// One version over one stretch of time.
struct VersionEvidence {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // status 0 and 5xx (and 4xx when the policy counts them)
  std::uint64_t unavailable = 0;
  std::uint64_t latency_samples = 0;
  // The latency (ms) at a rank fraction of the samples: a t-digest in the aggregator, exact order
  // statistics in the simulation. May be empty when there are no samples.
  std::function<double(double)> latency_at;
  // How far latency_at may be from the exact order statistic, relatively (the aggregator's
  // sketch guarantees LatencySketch::kRelativeBound; exact order statistics: 0). The P95 bounds
  // are widened by it, so alpha covers the estimate's error too.
  double latency_relative_error = 0;
  // How much more the error count (and the unavailable count) varies than independent requests
  // would make it: its variance over the binomial's, from the users' buckets
  // (decision/user_buckets.hpp); at least 1. The rate intervals take n / D requests.
  double design_effect = 1;
  double unavailable_design_effect = 1;
  // The same over time, from the stretch's slices of 10 s (decision/time_clusters.hpp): the
  // absolute triggers take the larger design effect, and hold only once time_slices reaches
  // TimeClusters::kMinSlices. 0 slices: time not measured (a fleet's evidence, an endpoint's).
  double time_design_effect = 1;
  double unavailable_time_design_effect = 1;
  std::uint64_t time_slices = 0;
};

// One stratum of a comparison (an endpoint on a host, a region in a fleet), over the same stretch
// as the evidence's totals. Errors as the policy counts them.
struct Stratum {
  std::string name;
  std::uint64_t canary_requests = 0, canary_errors = 0;
  std::uint64_t legacy_requests = 0, legacy_errors = 0;
  double legacy_design_effect = 1;  // of legacy's error rate here (VersionEvidence::design_effect)
};

struct Evidence {
  VersionEvidence canary;
  VersionEvidence legacy;
  // 1-based index of this sequence among the ones that restarted before it (ramp steps, rolling
  // blocks): its share of alpha shrinks as 1/i^2 so the family keeps its alpha forever.
  std::uint64_t sequence = 1;
  std::string window;  // "5m", "step": for people
  // When set, the error-rate comparisons against legacy are post-stratified: the canary's traffic
  // in the strata legacy also has, against legacy's rate in each stratum weighted by the canary's
  // own mix. Legacy's traffic where the canary has none (an endpoint it is not enabled on, a
  // region it does not serve) then counts in no comparison. Empty: the totals are compared.
  std::vector<Stratum> strata;
};

// What a check's value, bound and threshold are in: /metrics exports each in its base unit.
enum class CheckUnit : std::uint8_t { percent, milliseconds, ratio, count };

struct Check {
  std::string name;       // "canary_error_rate", "error_rate_increase", ...
  CheckUnit unit = CheckUnit::percent;
  std::string window;     // which evidence it was judged on: "step", "rolling", "change"
  std::string endpoint;   // the endpoint judged on its own; empty: the version's totals
  std::string test;       // the test and its alpha
  double value = 0;       // the point estimate
  double bound = 0;       // the confidence bound compared with the threshold (NaN: none yet)
  double threshold = 0;
  // Change detection ("change" window): the detector's log statistic and the level it must reach.
  double log_evidence = 0;
  double log_evidence_level = 0;
  std::uint64_t canary_samples = 0;
  std::uint64_t legacy_samples = 0;
  // Rate checks: the largest design effect their intervals took (1: the requests as independent).
  double design_effect = 1;
  bool holds = false;  // trigger: breach proven; gate: compliance proven
  // Absolute triggers: legacy's breach of the same threshold is proven by the same test over the
  // same window (an incident that hits both versions).
  bool legacy_also_breaches = false;
  // Holds, but does not roll back: legacy also breaches and the policy says hold.
  bool held_for_legacy = false;
};

// One endpoint's counts over the current step. Its latency is judged by counting: how many of
// its drained requests were slower than rollback.max_p95_ms (a P95 above the limit means more
// than 5% of them); the comparison of P95s against legacy is the totals' alone.
struct EndpointEvidence {
  std::string name;  // the template
  bool critical = false;
  VersionEvidence canary;  // counts only (no latency_at)
  VersionEvidence legacy;
  std::uint64_t canary_timed = 0, canary_slow = 0;  // drained latencies, and those over the limit
  std::uint64_t legacy_timed = 0, legacy_slow = 0;
};

// What a judgement is made of. Only `step` is required.
struct JudgeInput {
  const Evidence* step = nullptr;
  const Evidence* recent = nullptr;        // the rolling window: the relative checks
  const ChangeWatch* changes = nullptr;    // the absolute triggers' change detectors
  std::vector<EndpointEvidence> endpoints;  // every endpoint judged on its own (none: totals only)
};

struct Judgement {
  std::vector<Check> triggers;
  std::vector<Check> gate;
  bool rollback = false;    // some trigger holds (and is not held for legacy)
  bool gate_holds = false;  // every gate check holds and no trigger does
  // The first trigger that rolls back, or null.
  const Check* first_trigger() const;
};

struct JudgeOptions {
  bool evaluate_gate = true;
  // false: skip confidence bounds whose point estimate already decides the check (the simulation
  // runs millions of judgements); the aggregator computes every bound, for the status page.
  bool compute_every_bound = true;
};

Judgement judge(const Policy& policy, const JudgeInput& input, const JudgeOptions& options = {});
// The totals only: step and rolling window.
Judgement judge(const Policy& policy, const Evidence& step, const Evidence* recent, const JudgeOptions& options = {});

}  // namespace canary
