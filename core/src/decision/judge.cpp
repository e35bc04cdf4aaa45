#include "canary/decision/judge.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "canary/stats/confidence_sequence.hpp"

namespace canary {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kQuantile = 0.95;

// Mixing distributions of the confidence sequences. Any fixed choice keeps the guarantees; it only
// decides where the tests are sharpest. Triggers must catch rates from fractions of a percent to
// tens of percent: Beta(0.5, 20). The gate must prove that a small error rate is small:
// Beta(2, 400), centred on 0.5%. For the P95 count, a Beta centred on 0.95 holding the weight of
// 200 samples. Chosen with the simulation in tests/decision_simulation_test.cpp (docs/statistics.md).
constexpr stats::BetaPrior kTriggerRatePrior{0.5, 20};
constexpr stats::BetaPrior kGateRatePrior{2, 400};
constexpr double kQuantileWeight = 200;
constexpr stats::BetaPrior kQuantilePrior{kQuantile * kQuantileWeight, (1 - kQuantile) * kQuantileWeight};

// A good canary could be rolled back by any trigger on either sequence (the step, the rolling
// window): the rollback alpha is split over the 5 triggers x 2 sequences. A canary outside the
// gate must be stopped by the check it fails, so each gate check gets the gate's whole alpha.
constexpr double kTriggerShares = 10;
// Inside a two-sample check, legacy (19 times the data) takes a tenth of the alpha: its bound
// barely widens, the canary's narrows.
constexpr double kCanaryShare = 0.9;

double rate(std::uint64_t k, std::uint64_t n) { return n == 0 ? 0.0 : static_cast<double>(k) / static_cast<double>(n); }

std::string describe(const char* test, double alpha) {
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
double p95_estimate(const VersionEvidence& v) {
  return v.latency_samples && v.latency_at ? v.latency_at(kQuantile) : kNaN;
}

QuantileBounds p95_bounds(const VersionEvidence& v, double alpha, bool need_lower, bool need_upper) {
  QuantileBounds b;
  if (v.latency_samples == 0 || !v.latency_at) return b;
  b.estimate = p95_estimate(v);
  if (!need_lower && !need_upper) return b;
  const auto n = static_cast<double>(v.latency_samples);
  const stats::RankInterval ranks = stats::quantile_rank_interval(v.latency_samples, kQuantile, alpha, kQuantilePrior);
  // The r-th smallest of n samples sits at rank fraction (r - 0.5) / n.
  const double error = v.latency_relative_error;
  if (need_lower && ranks.lower > 0) b.lower = v.latency_at((static_cast<double>(ranks.lower) - 0.5) / n) * (1 - error);
  if (need_upper && ranks.upper <= v.latency_samples)
    b.upper = v.latency_at((static_cast<double>(ranks.upper) - 0.5) / n) * (1 + error);
  return b;
}

stats::Interval trigger_rate_bounds(std::uint64_t k, std::uint64_t n, double alpha) {
  return stats::proportion_interval(k, n, alpha, kTriggerRatePrior);
}

stats::Interval gate_rate_bounds(std::uint64_t k, std::uint64_t n, double alpha) {
  return stats::proportion_interval(k, n, alpha, kGateRatePrior);
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

void add_triggers(const Policy& p, const Evidence& e, const JudgeOptions& o, std::vector<Check>& out) {
  const RollbackPolicy& r = p.rollback;
  const double alpha = stats::spent_alpha(r.alpha / kTriggerShares, e.sequence);
  const VersionEvidence& c = e.canary;
  const VersionEvidence& l = e.legacy;
  const bool all = o.compute_every_bound;

  Check errors = base("canary_error_rate", e, r.max_error_rate_percent);
  errors.test = describe("lower confidence bound of the canary error rate (%)", alpha);
  errors.value = 100 * rate(c.errors, c.requests);
  if (all || errors.value > errors.threshold) errors.bound = 100 * trigger_rate_bounds(c.errors, c.requests, alpha).lower;
  errors.holds = errors.bound > errors.threshold;
  if (errors.holds)
    errors.legacy_also_breaches = 100 * trigger_rate_bounds(l.errors, l.requests, alpha).lower > errors.threshold;
  out.push_back(errors);

  Check latency = base("canary_p95_ms", e, r.max_p95_ms);
  latency.test = describe("lower confidence bound of the canary P95 from order statistics (ms)", alpha);
  latency.canary_samples = c.latency_samples;
  const QuantileBounds cq = p95_bounds(c, alpha, false, false);  // the estimate only
  latency.value = cq.estimate;
  if (all || cq.estimate > latency.threshold) latency.bound = p95_bounds(c, alpha, true, false).lower;
  latency.holds = latency.bound > latency.threshold;
  if (latency.holds) latency.legacy_also_breaches = p95_bounds(l, alpha, true, false).lower > latency.threshold;
  out.push_back(latency);

  Check availability = base("canary_availability", e, r.min_availability_percent);
  availability.test = describe("upper confidence bound of the canary availability (%)", alpha);
  availability.value = 100 * (1 - rate(c.unavailable, c.requests));
  if (all || availability.value < availability.threshold)
    availability.bound = 100 * (1 - trigger_rate_bounds(c.unavailable, c.requests, alpha).lower);
  availability.holds = availability.bound < availability.threshold;
  if (availability.holds)
    availability.legacy_also_breaches =
        100 * (1 - trigger_rate_bounds(l.unavailable, l.requests, alpha).lower) < availability.threshold;
  out.push_back(availability);

  if (!r.when_gate_cannot_pass) return;
  const GatePolicy& g = p.gate;
  Check increase = base("error_rate_increase", e, g.max_error_rate_increase_points);
  increase.test = describe("lower bound of canary minus upper bound of legacy error rate (points)", alpha);
  increase.value = 100 * (rate(c.errors, c.requests) - rate(l.errors, l.requests));
  if (all || increase.value > increase.threshold)
    increase.bound = 100 * (trigger_rate_bounds(c.errors, c.requests, alpha * kCanaryShare).lower -
                            trigger_rate_bounds(l.errors, l.requests, alpha * (1 - kCanaryShare)).upper);
  increase.holds = increase.bound > increase.threshold;
  out.push_back(increase);

  Check slower = base("p95_increase", e, g.max_p95_increase);
  slower.test = describe("canary P95 lower bound over legacy P95 upper bound, minus 1", alpha);
  slower.canary_samples = c.latency_samples;
  slower.legacy_samples = l.latency_samples;
  slower.value = cq.estimate / p95_estimate(l) - 1;
  if (all || slower.value > slower.threshold) {
    const double upper = p95_bounds(l, alpha * (1 - kCanaryShare), false, true).upper;
    const double lower = p95_bounds(c, alpha * kCanaryShare, true, false).lower;
    slower.bound = std::isfinite(upper) && upper > 0 ? lower / upper - 1 : kNaN;
  }
  slower.holds = slower.bound > slower.threshold;
  out.push_back(slower);
}

void add_gate(const Policy& p, const Evidence& e, const JudgeOptions& o, std::vector<Check>& out) {
  const GatePolicy& g = p.gate;
  const double alpha = stats::spent_alpha(g.alpha, e.sequence);
  const VersionEvidence& c = e.canary;
  const VersionEvidence& l = e.legacy;
  const bool all = o.compute_every_bound;

  Check increase = base("error_rate_increase", e, g.max_error_rate_increase_points);
  increase.test = describe("upper bound of canary minus lower bound of legacy error rate (points)", alpha);
  increase.value = 100 * (rate(c.errors, c.requests) - rate(l.errors, l.requests));
  if (all || increase.value < increase.threshold)
    increase.bound = 100 * (gate_rate_bounds(c.errors, c.requests, alpha * kCanaryShare).upper -
                            gate_rate_bounds(l.errors, l.requests, alpha * (1 - kCanaryShare)).lower);
  increase.holds = increase.bound < increase.threshold;
  out.push_back(increase);

  Check slower = base("p95_increase", e, g.max_p95_increase);
  slower.test = describe("canary P95 upper bound over legacy P95 lower bound, minus 1", alpha);
  slower.canary_samples = c.latency_samples;
  slower.legacy_samples = l.latency_samples;
  slower.value = p95_estimate(c) / p95_estimate(l) - 1;
  if (all || slower.value < slower.threshold) {
    const double upper = p95_bounds(c, alpha * kCanaryShare, false, true).upper;
    const double lower = p95_bounds(l, alpha * (1 - kCanaryShare), true, false).lower;
    slower.bound = lower > 0 && std::isfinite(upper) ? upper / lower - 1 : kNaN;
  }
  slower.holds = slower.bound < slower.threshold;
  out.push_back(slower);

  Check enough = base("canary_requests", e, static_cast<double>(g.min_canary_requests));
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

Judgement judge(const Policy& policy, const Evidence& step, const Evidence* recent, const JudgeOptions& options) {
  Judgement j;
  add_triggers(policy, step, options, j.triggers);
  if (recent != nullptr) add_triggers(policy, *recent, options, j.triggers);
  const bool hold = policy.rollback.when_legacy_also_breaches == RollbackPolicy::WhenLegacyAlsoBreaches::hold;
  bool any_holds = false;
  for (Check& c : j.triggers) {
    c.held_for_legacy = c.holds && c.legacy_also_breaches && hold;
    any_holds = any_holds || c.holds;
    j.rollback = j.rollback || (c.holds && !c.held_for_legacy);
  }
  if (options.evaluate_gate) {
    add_gate(policy, step, options, j.gate);
    j.gate_holds = !any_holds;  // a canary held through an incident is not let through by it
    for (const Check& c : j.gate) j.gate_holds = j.gate_holds && c.holds;
  }
  return j;
}

}  // namespace canary
