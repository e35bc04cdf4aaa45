// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/judge.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "canary/decision/time_clusters.hpp"
#include "canary/stats/confidence_sequence.hpp"

namespace canary {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kP95 = 0.95;
constexpr double kP99 = 0.99;
// A P95 above a limit means more than 5% of the requests above it (1 - kP95, written exactly).
constexpr double kOverQuantile = 0.05;

// Mixing distributions of the confidence sequences. Any fixed choice keeps the guarantees; it only
// decides where the tests are sharpest. Triggers must catch rates from fractions of a percent to
// tens of percent: Beta(0.5, 20). The gate must prove that a small error rate is small:
// Beta(2, 400), centred on 0.5%. For a quantile's rank, a Beta centred on the quantile holding the
// weight of 200 samples. Chosen with the simulation in tests/decision_simulation_test.cpp
// (docs/statistics.md).
constexpr stats::BetaPrior kTriggerRatePrior{0.5, 20};
constexpr stats::BetaPrior kGateRatePrior{2, 400};
constexpr double kQuantileWeight = 200;
constexpr stats::BetaPrior quantile_prior(double q) { return {q * kQuantileWeight, (1 - q) * kQuantileWeight}; }

// A good canary could be rolled back by any trigger: the rollback alpha (of the totals) is split
// in 10 shares: the 5 triggers on the step, the 2 relative ones on the rolling window, and the 3
// change detectors of the absolute triggers; a P99 limit adds one share, a P99 increase limit two
// (step and rolling window). A canary outside the gate must be stopped by the check it fails, so
// each gate check gets the gate's whole alpha.
double trigger_shares(const Policy& p) {
  const bool relative = p.rollback.when_gate_cannot_pass;
  return 10 + (p.rollback.max_p99_ms ? 1 : 0) + (p.gate.max_p99_increase && relative ? 2 : 0);
}
// Per-endpoint checks (when there is more than one endpoint) take half of the rollback alpha,
// split over the endpoints and their 4 checks; critical endpoints share half of that half.
constexpr double kEndpointChecks = 4;
constexpr double kCanaryShare = 0.9;

double rate(std::uint64_t k, std::uint64_t n) { return n == 0 ? 0.0 : static_cast<double>(k) / static_cast<double>(n); }

// The test's text, for people (the status page, events); the simulation does without.
std::string describe(const JudgeOptions& o, const char* test, double alpha) {
  if (!o.compute_every_bound) return {};
  char text[160];
  std::snprintf(text, sizeof text, "%s, alpha %.3g", test, alpha);
  return text;
}

struct QuantileBounds {
  double estimate = kNaN;
  double lower = 0;    // 0 is always a valid lower bound of a latency
  double upper = kInf;
};

// NaN without latency evidence.
double quantile_estimate(const VersionEvidence& v, double q) {
  return v.latency_samples && v.latency_at ? v.latency_at(q) : kNaN;
}

QuantileBounds quantile_bounds(const VersionEvidence& v, double q, double alpha, bool need_lower, bool need_upper) {
  QuantileBounds b;
  if (v.latency_samples == 0 || !v.latency_at) return b;
  b.estimate = quantile_estimate(v, q);
  if (!need_lower && !need_upper) return b;
  const auto n = static_cast<double>(v.latency_samples);
  const stats::RankInterval ranks = stats::quantile_rank_interval(v.latency_samples, q, alpha, quantile_prior(q));
  // The r-th smallest of n samples sits at rank fraction (r - 0.5) / n.
  const double error = v.latency_relative_error;
  if (need_lower && ranks.lower > 0) b.lower = v.latency_at((static_cast<double>(ranks.lower) - 0.5) / n) * (1 - error);
  if (need_upper && ranks.upper <= v.latency_samples)
    b.upper = v.latency_at((static_cast<double>(ranks.upper) - 0.5) / n) * (1 + error);
  return b;
}

// A quantile's name in a check ("p95", "p99") and for people ("P95").
std::string quantile_name(double q) { return "p" + std::to_string(static_cast<int>(std::lround(q * 100))); }
std::string quantile_label(double q) { return "P" + std::to_string(static_cast<int>(std::lround(q * 100))); }

// k of n as n / D independent requests would be (D: the design effect, user_buckets.hpp).
stats::Interval rate_interval(std::uint64_t k, std::uint64_t n, double design_effect, double alpha, const stats::BetaPrior& prior) {
  const double d = design_effect > 1 ? design_effect : 1;
  return stats::proportion_interval_effective(static_cast<double>(k) / d, static_cast<double>(n) / d, alpha, prior);
}

stats::Interval trigger_rate_bounds(std::uint64_t k, std::uint64_t n, double design_effect, double alpha) {
  return rate_interval(k, n, design_effect, alpha, kTriggerRatePrior);
}

// The error rates a relative check compares: the canary's, and legacy's as the canary's traffic
// mix would see it, with legacy's confidence interval at `legacy_alpha`.
struct RateComparison {
  std::uint64_t canary_errors = 0, canary_requests = 0;
  double legacy_rate = kNaN;
  stats::Interval legacy{0, 1};
  double legacy_design_effect = 1;  // the largest one a stratum's interval took
};

// Post-stratified when the evidence has strata: legacy's interval is the canary-weighted sum of
// each stratum's interval, each at an equal share of alpha (Bonferroni over the strata, whose
// number the config fixes, not the data), so the sum covers legacy's reweighted rate at
// `legacy_alpha`. A stratum without legacy traffic has nothing to compare with: its canary
// traffic is left out too. `bounds` false: the point estimates only (the interval stays [0, 1]).
RateComparison compare_rates(const Evidence& e, double legacy_alpha, const stats::BetaPrior& prior, bool bounds) {
  RateComparison r;
  if (e.strata.empty()) {
    r.canary_errors = e.canary.errors;
    r.canary_requests = e.canary.requests;
    r.legacy_rate = rate(e.legacy.errors, e.legacy.requests);
    r.legacy_design_effect = e.legacy.design_effect;
    if (bounds) r.legacy = rate_interval(e.legacy.errors, e.legacy.requests, e.legacy.design_effect, legacy_alpha, prior);
    return r;
  }
  for (const Stratum& s : e.strata) {
    if (s.legacy_requests == 0) continue;
    r.canary_errors += s.canary_errors;
    r.canary_requests += s.canary_requests;
  }
  if (r.canary_requests == 0) return r;
  const double each = legacy_alpha / static_cast<double>(e.strata.size());
  if (bounds) r.legacy = {0, 0};
  r.legacy_rate = 0;
  for (const Stratum& s : e.strata) {
    if (s.legacy_requests == 0 || s.canary_requests == 0) continue;
    const double weight = static_cast<double>(s.canary_requests) / static_cast<double>(r.canary_requests);
    r.legacy_rate += weight * rate(s.legacy_errors, s.legacy_requests);
    r.legacy_design_effect = std::max(r.legacy_design_effect, s.legacy_design_effect);
    if (!bounds) continue;
    const stats::Interval i = rate_interval(s.legacy_errors, s.legacy_requests, s.legacy_design_effect, each, prior);
    r.legacy.lower += weight * i.lower;
    r.legacy.upper += weight * i.upper;
  }
  return r;
}

// Whether a rate above `limit` is proven (the lower confidence bound is above it): the whole
// sequence lies above it exactly when the mixture at `limit` has reached 1/alpha, one
// evaluation instead of a bisection (for the simulation, which needs the verdict only).
bool beyond(std::uint64_t k, std::uint64_t n, double limit, double alpha, double design_effect = 1) {
  const double d = design_effect > 1 ? design_effect : 1;
  return n > 0 && static_cast<double>(k) > limit * static_cast<double>(n) &&
         stats::log_mixture_ratio_effective(static_cast<double>(k) / d, static_cast<double>(n) / d, limit, kTriggerRatePrior) >=
             std::log(1 / alpha);
}

Check base(const char* name, const Evidence& e, double threshold) {
  Check c;
  c.name = name;
  c.window = e.window;
  c.threshold = threshold;
  c.canary_samples = e.canary.requests;
  c.legacy_samples = e.legacy.requests;
  c.bound = kNaN;
  return c;
}

// The canary's error rate against legacy's, in points: proven above `limit` (a trigger, its
// rate mixture) or proven within it (the gate, its mixture). Legacy gets (1 - kCanaryShare) of
// alpha, the canary the rest.
Check rate_increase(const Evidence& e, double limit, double alpha, bool gate, const JudgeOptions& o) {
  const stats::BetaPrior& prior = gate ? kGateRatePrior : kTriggerRatePrior;
  const std::string test = std::string(gate ? "upper bound of canary minus lower bound" : "lower bound of canary minus upper bound") +
                           " of legacy error rate" + (e.strata.empty() ? "" : " in the canary's mix of strata") + " (points)";
  Check increase = base("error_rate_increase", e, limit);
  increase.test = describe(o, test.c_str(), alpha);
  const double legacy_alpha = alpha * (1 - kCanaryShare);
  RateComparison r = compare_rates(e, legacy_alpha, prior, false);
  increase.canary_samples = r.canary_requests;
  increase.design_effect = std::max(e.canary.design_effect, r.legacy_design_effect);
  increase.value = 100 * (rate(r.canary_errors, r.canary_requests) - r.legacy_rate);
  const bool decided_by_estimate = gate ? increase.value >= limit : increase.value <= limit;
  if (o.compute_every_bound || !decided_by_estimate) {
    r = compare_rates(e, legacy_alpha, prior, true);
    const stats::Interval canary =
        rate_interval(r.canary_errors, r.canary_requests, e.canary.design_effect, alpha * kCanaryShare, prior);
    increase.bound = 100 * (gate ? canary.upper - r.legacy.lower : canary.lower - r.legacy.upper);
  }
  increase.holds = gate ? increase.bound < limit : increase.bound > limit;
  return increase;
}

// The canary's quantile q proven above `limit` (ms): its lower confidence bound from order statistics.
Check latency_trigger(const Evidence& e, double q, double limit, double alpha, const JudgeOptions& o) {
  const std::string name = "canary_" + quantile_name(q) + "_ms";
  Check latency = base(name.c_str(), e, limit);
  latency.unit = CheckUnit::milliseconds;
  latency.test = describe(o, ("lower confidence bound of the canary " + quantile_label(q) + " from order statistics (ms)").c_str(), alpha);
  latency.canary_samples = e.canary.latency_samples;
  latency.value = quantile_estimate(e.canary, q);
  if (o.compute_every_bound || latency.value > latency.threshold)
    latency.bound = quantile_bounds(e.canary, q, alpha, true, false).lower;
  latency.holds = latency.bound > latency.threshold;
  if (latency.holds) latency.legacy_also_breaches = quantile_bounds(e.legacy, q, alpha, true, false).lower > latency.threshold;
  return latency;
}

// The canary's quantile q against legacy's, relatively: proven above `limit` (a trigger) or proven
// within it (the gate). Legacy gets (1 - kCanaryShare) of alpha, the canary the rest.
Check quantile_increase(const Evidence& e, double q, double limit, double alpha, bool gate, const JudgeOptions& o) {
  const std::string name = quantile_name(q) + "_increase";
  const std::string Q = quantile_label(q);
  Check slower = base(name.c_str(), e, limit);
  slower.unit = CheckUnit::ratio;
  slower.test = describe(o,
                         (gate ? "canary " + Q + " upper bound over legacy " + Q + " lower bound, minus 1"
                               : "canary " + Q + " lower bound over legacy " + Q + " upper bound, minus 1")
                             .c_str(),
                         alpha);
  slower.canary_samples = e.canary.latency_samples;
  slower.legacy_samples = e.legacy.latency_samples;
  slower.value = quantile_estimate(e.canary, q) / quantile_estimate(e.legacy, q) - 1;
  if (gate) {
    if (o.compute_every_bound || slower.value < slower.threshold) {
      const double upper = quantile_bounds(e.canary, q, alpha * kCanaryShare, false, true).upper;
      const double lower = quantile_bounds(e.legacy, q, alpha * (1 - kCanaryShare), true, false).lower;
      slower.bound = lower > 0 && std::isfinite(upper) ? upper / lower - 1 : kNaN;
    }
    slower.holds = slower.bound < slower.threshold;
  } else {
    if (o.compute_every_bound || slower.value > slower.threshold) {
      const double upper = quantile_bounds(e.legacy, q, alpha * (1 - kCanaryShare), false, true).upper;
      const double lower = quantile_bounds(e.canary, q, alpha * kCanaryShare, true, false).lower;
      slower.bound = std::isfinite(upper) && upper > 0 ? lower / upper - 1 : kNaN;
    }
    slower.holds = slower.bound > slower.threshold;
  }
  return slower;
}

// `totals`: the version's totals, with latency order statistics (an endpoint's evidence is counts
// only: its latency check is the share of slow requests, add_endpoint's).
void add_absolute(const Policy& p, const Evidence& e, double alpha, const JudgeOptions& o, std::vector<Check>& out,
                  bool totals = true) {
  const RollbackPolicy& r = p.rollback;
  const VersionEvidence& c = e.canary;
  const VersionEvidence& l = e.legacy;
  const bool all = o.compute_every_bound;
  // Bursts: with too few slices of time seen, no absolute rate bound is proven yet.
  const bool time_seen = c.time_slices == 0 || c.time_slices >= TimeClusters::kMinSlices;
  const double errors_d = std::max(c.design_effect, c.time_design_effect);
  const double unavailable_d = std::max(c.unavailable_design_effect, c.unavailable_time_design_effect);

  Check errors = base("canary_error_rate", e, r.max_error_rate_percent);
  errors.test = describe(o, "lower confidence bound of the canary error rate (%)", alpha);
  errors.value = 100 * rate(c.errors, c.requests);
  if (!time_seen)
    errors.bound = kNaN;
  else if (all)
    errors.bound = 100 * trigger_rate_bounds(c.errors, c.requests, errors_d, alpha).lower;
  else if (errors.value > errors.threshold)  // no bound needed: is the threshold outside the sequence?
    errors.bound = beyond(c.errors, c.requests, errors.threshold / 100, alpha, errors_d) ? kInf : kNaN;
  errors.design_effect = errors_d;
  errors.holds = errors.bound > errors.threshold;
  if (errors.holds)
    errors.legacy_also_breaches =
        100 * trigger_rate_bounds(l.errors, l.requests, std::max(l.design_effect, l.time_design_effect), alpha).lower >
        errors.threshold;
  out.push_back(errors);

  out.push_back(latency_trigger(e, kP95, r.max_p95_ms, alpha, o));
  if (r.max_p99_ms && totals) out.push_back(latency_trigger(e, kP99, *r.max_p99_ms, alpha, o));

  Check availability = base("canary_availability", e, r.min_availability_percent);
  availability.test = describe(o, "upper confidence bound of the canary availability (%)", alpha);
  availability.value = 100 * (1 - rate(c.unavailable, c.requests));
  if (!time_seen)
    availability.bound = kNaN;
  else if (all)
    availability.bound = 100 * (1 - trigger_rate_bounds(c.unavailable, c.requests, unavailable_d, alpha).lower);
  else if (availability.value < availability.threshold)
    availability.bound =
        beyond(c.unavailable, c.requests, 1 - availability.threshold / 100, alpha, unavailable_d) ? -kInf : kNaN;
  availability.design_effect = unavailable_d;
  availability.holds = availability.bound < availability.threshold;
  if (availability.holds)
    availability.legacy_also_breaches =
        100 * (1 - trigger_rate_bounds(l.unavailable, l.requests,
                                       std::max(l.unavailable_design_effect, l.unavailable_time_design_effect), alpha)
                       .lower) <
        availability.threshold;
  out.push_back(availability);
}

// The comparisons against legacy (when the policy rolls back a canary proven outside the gate).
void add_relative(const Policy& p, const Evidence& e, double alpha, const JudgeOptions& o, std::vector<Check>& out) {
  if (!p.rollback.when_gate_cannot_pass) return;
  const GatePolicy& g = p.gate;
  out.push_back(rate_increase(e, g.max_error_rate_increase_points, alpha, false, o));
  if (e.canary.latency_samples == 0 && e.legacy.latency_samples == 0) return;  // an endpoint's counts only
  out.push_back(quantile_increase(e, kP95, g.max_p95_increase, alpha, false, o));
  if (g.max_p99_increase) out.push_back(quantile_increase(e, kP99, *g.max_p99_increase, alpha, false, o));
}

// The absolute triggers as change detectors: an alarm is the breach proven for the data since
// some moment, whenever that moment was.
void add_changes(const Policy& p, const ChangeWatch& w, double alpha, const JudgeOptions& o, std::vector<Check>& out) {
  const RollbackPolicy& r = p.rollback;
  const double level = stats::change_alarm_log_level(static_cast<double>(r.change_horizon_ms) / 1000, alpha);
  char test[200] = "";
  if (o.compute_every_bound)
    std::snprintf(test, sizeof test, "Shiryaev-Roberts e-detector, alpha %.3g per %.3g h", alpha,
                  static_cast<double>(r.change_horizon_ms) / 3.6e6);
  struct Watched {
    const char* name;
    WatchedRate rate;
    double threshold;
  };
  const Watched watched[] = {{"canary_error_rate", WatchedRate::errors, r.max_error_rate_percent},
                             // P95 over the limit = more than 5% of requests slower than it
                             {"canary_p95_ms", WatchedRate::slow, 100 * kOverQuantile},
                             {"canary_availability", WatchedRate::unavailable, r.min_availability_percent}};
  for (const Watched& x : watched) {
    const stats::RateChangeDetector& canary = w.detector(1, x.rate);
    Check c;
    c.name = x.name;
    c.window = "change";
    c.test = test;
    c.threshold = x.threshold;
    c.bound = kNaN;
    c.log_evidence = canary.log_statistic();
    c.log_evidence_level = level;
    // What the change is to: the rate (error rate, availability) or the share of requests over
    // the P95 limit (which must stay under 5%) best supported by the evidence.
    // (NaN while nothing points to a change: a statistic below 1.)
    const double likely = c.log_evidence > 0 ? canary.likely_rate() : kNaN;
    c.value = x.rate == WatchedRate::unavailable ? 100 * (1 - likely) : 100 * likely;
    c.holds = c.log_evidence >= level;
    if (c.holds) c.legacy_also_breaches = w.detector(0, x.rate).log_statistic() >= level;
    out.push_back(c);
  }
}

// One endpoint: its error rate, share of slow requests and availability, and its error rate
// against legacy's on the same endpoint (a canary bad on one endpoint of seven hides in the totals).
void add_endpoint(const Policy& p, const Evidence& step, const EndpointEvidence& ep, double alpha, const JudgeOptions& o,
                  std::vector<Check>& out) {
  Evidence e{ep.canary, ep.legacy, step.sequence, step.window, {}};
  const std::size_t first = out.size();
  add_absolute(p, e, alpha, o, out, /*totals=*/false);
  add_relative(p, e, alpha, o, out);
  for (std::size_t i = first; i < out.size(); ++i) {
    out[i].endpoint = ep.name;
    if (out[i].name != "canary_p95_ms") continue;
    // The order statistics are the totals'; here, the share of requests over the limit.
    Check& slow = out[i];
    slow.unit = CheckUnit::percent;
    const double limit = kOverQuantile;
    slow.test = describe(o, "lower confidence bound of the share of canary requests slower than max_p95_ms (%)", alpha);
    slow.threshold = 100 * limit;
    slow.canary_samples = ep.canary_timed;
    slow.legacy_samples = ep.legacy_timed;
    slow.value = 100 * rate(ep.canary_slow, ep.canary_timed);
    slow.bound = kNaN;
    if (o.compute_every_bound)
      slow.bound = 100 * trigger_rate_bounds(ep.canary_slow, ep.canary_timed, 1, alpha).lower;
    else if (slow.value > slow.threshold)
      slow.bound = beyond(ep.canary_slow, ep.canary_timed, limit, alpha) ? kInf : kNaN;
    slow.holds = slow.bound > slow.threshold;
    slow.legacy_also_breaches = slow.holds && beyond(ep.legacy_slow, ep.legacy_timed, limit, alpha);
  }
}

void add_gate(const Policy& p, const Evidence& e, const JudgeOptions& o, std::vector<Check>& out) {
  const GatePolicy& g = p.gate;
  const double alpha = stats::spent_alpha(g.alpha, e.sequence);
  const VersionEvidence& c = e.canary;
  out.push_back(rate_increase(e, g.max_error_rate_increase_points, alpha, true, o));
  out.push_back(quantile_increase(e, kP95, g.max_p95_increase, alpha, true, o));
  if (g.max_p99_increase) out.push_back(quantile_increase(e, kP99, *g.max_p99_increase, alpha, true, o));

  Check enough = base("canary_requests", e, static_cast<double>(g.min_canary_requests));
  enough.unit = CheckUnit::count;
  enough.test = "count";
  enough.value = static_cast<double>(c.requests);
  enough.bound = enough.value;
  enough.holds = c.requests > g.min_canary_requests;
  out.push_back(enough);
}

}  // namespace

const Check* Judgement::first_trigger() const {
  for (const Check& c : triggers)
    if (c.holds && !c.held_for_legacy) return &c;
  return nullptr;
}

Judgement judge(const Policy& policy, const JudgeInput& in, const JudgeOptions& options) {
  Judgement j;
  const Evidence& step = *in.step;
  const bool per_endpoint = in.endpoints.size() > 1;
  const double totals_alpha = policy.rollback.alpha * (per_endpoint ? 0.5 : 1.0);
  const double share = totals_alpha / trigger_shares(policy);
  add_absolute(policy, step, stats::spent_alpha(share, step.sequence), options, j.triggers);
  add_relative(policy, step, stats::spent_alpha(share, step.sequence), options, j.triggers);
  if (in.recent != nullptr) add_relative(policy, *in.recent, stats::spent_alpha(share, in.recent->sequence), options, j.triggers);
  if (in.changes != nullptr) add_changes(policy, *in.changes, share, options, j.triggers);
  if (per_endpoint) {
    std::size_t critical = 0;
    for (const EndpointEvidence& ep : in.endpoints) critical += ep.critical ? 1 : 0;
    const std::size_t normal = in.endpoints.size() - critical;
    // Half of the rollback alpha for the endpoints; with critical ones, half of that for them.
    const double family = policy.rollback.alpha * 0.5;
    const double critical_family = critical == 0 ? 0 : normal == 0 ? family : family / 2;
    for (const EndpointEvidence& ep : in.endpoints) {
      const double each = ep.critical ? critical_family / static_cast<double>(critical)
                                      : (family - critical_family) / static_cast<double>(normal);
      add_endpoint(policy, step, ep, stats::spent_alpha(each / kEndpointChecks, step.sequence), options, j.triggers);
    }
  }
  const bool hold = policy.rollback.when_legacy_also_breaches == RollbackPolicy::WhenLegacyAlsoBreaches::hold;
  bool any_holds = false;
  for (Check& c : j.triggers) {
    c.held_for_legacy = c.holds && c.legacy_also_breaches && hold;
    any_holds = any_holds || c.holds;
    j.rollback = j.rollback || (c.holds && !c.held_for_legacy);
  }
  if (options.evaluate_gate) {
    add_gate(policy, step, options, j.gate);
    // A critical endpoint must be proven inside the gate's error-rate limit on its own too.
    for (const EndpointEvidence& ep : in.endpoints)
      if (ep.critical && per_endpoint) {
        const Evidence e{ep.canary, ep.legacy, step.sequence, step.window, {}};
        std::vector<Check> own;
        add_gate(policy, e, options, own);
        own.front().endpoint = ep.name;  // error_rate_increase: latency is the totals' alone
        j.gate.push_back(own.front());
      }
    j.gate_holds = !any_holds;  // a canary held through an incident is not let through by it
    for (const Check& c : j.gate) j.gate_holds = j.gate_holds && c.holds;
  }
  return j;
}

Judgement judge(const Policy& policy, const Evidence& step, const Evidence* recent, const JudgeOptions& options) {
  JudgeInput in;
  in.step = &step;
  in.recent = recent;
  return judge(policy, in, options);
}

}  // namespace canary
