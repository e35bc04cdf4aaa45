// SPDX-License-Identifier: Apache-2.0
// A seeded simulation of canaries judged every interval, for the decision statistics
// (tests/decision_simulation_test.cpp, docs/statistics.md).
//
// Each run draws a total rate from 20 to 2,000 requests per second (log-uniform), or uses the
// scenario's; 5% goes to the canary. A scenario may change both versions at a moment (a break),
// and may split the traffic over endpoints with their own error rates. Every simulated second adds Poisson-many requests per version, binomial errors and
// unavailable responses, and lognormal latencies (optionally with a Pareto tail). The P95 bounds
// are widened by the aggregator's sketch error bound, as the aggregator's are. Latencies are kept as exact order statistics of
// their uniform ranks: below the 85th percentile only a count, above it a Fenwick tree of 2^14
// bins, so the P95 order statistics the tests ask for are exact to 1e-5 in rank, at a fraction of
// the cost of keeping every sample.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "canary/decision/change_watch.hpp"
#include "canary/decision/judge.hpp"
#include "canary/decision/time_clusters.hpp"
#include "canary/latency_sketch.hpp"

namespace canary::simulation {

// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
inline double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double low = 0.02425;
  if (p < low) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) {
    const double q = std::sqrt(-2 * std::log1p(-p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

struct VersionModel {
  double error_rate = 0.005;
  double unavailable_rate = 0.002;  // part of the errors
  double median_ms = 200;
  double sigma = 0.5;
  // 0: lognormal throughout. Otherwise the slowest 10% follow a Pareto tail of this shape from
  // the lognormal's 90th percentile on (heavy-tailed latency: timeouts, retries, GC pauses).
  double pareto_shape = 0;
  // The slowest 2% (ranks above 0.98) this many times slower: a tail that moves the P99 by this
  // factor while the P95 stays where it was.
  double slowest_two_percent_factor = 1;
  double latency_at_rank(double u) const {
    constexpr double kTailStart = 0.9;
    const double factor = u > 0.98 ? slowest_two_percent_factor : 1;
    if (pareto_shape > 0 && u > kTailStart)
      return factor * median_ms * std::exp(sigma * normal_quantile(kTailStart)) *
             std::pow((1 - kTailStart) / (1 - u), 1 / pareto_shape);
    return factor * median_ms * std::exp(sigma * normal_quantile(u));
  }
  // The share of requests slower than `ms` (bisection on the rank).
  double share_slower_than(double ms) const {
    double lo = 0, hi = 1;
    for (int i = 0; i < 60; ++i) {
      const double mid = (lo + hi) / 2;
      (latency_at_rank(mid) <= ms ? lo : hi) = mid;
    }
    return 1 - lo;
  }
};

// One endpoint's part of the traffic and its error rates (the versions' own rates elsewhere).
struct EndpointModel {
  double traffic = 1;
  double canary_error_rate = 0.005;
  double legacy_error_rate = 0.005;
  double canary_traffic = -1;  // the canary's weight here when it differs (0: not enabled here); -1: `traffic`
  double weight(int version) const { return version == 1 && canary_traffic >= 0 ? canary_traffic : traffic; }
};

// The latencies of one version over one stretch: their uniform ranks, as order statistics.
class OrderStatistics {
 public:
  static constexpr double kTail = 0.85;
  static constexpr std::size_t kBins = 1 << 14;

  OrderStatistics() : tree_(kBins + 1, 0) {}

  void add_below(std::uint64_t n) { below_ += n; }
  void add_tail(double u) {
    auto bin = static_cast<std::size_t>((u - kTail) / (1 - kTail) * kBins);
    if (bin >= kBins) bin = kBins - 1;
    for (std::size_t i = bin + 1; i <= kBins; i += i & (~i + 1)) ++tree_[i];
    ++tail_;
  }
  std::uint64_t count() const { return below_ + tail_; }

  // The uniform rank of the order statistic at this rank fraction.
  double rank_at(double fraction) const {
    const auto n = static_cast<double>(count());
    auto r = static_cast<std::uint64_t>(std::ceil(std::clamp(fraction, 0.0, 1.0) * n));
    if (r == 0) r = 1;
    if (r <= below_) return kTail * (static_cast<double>(r) - 0.5) / static_cast<double>(below_);
    std::uint64_t want = r - below_;  // the want-th tail sample: Fenwick descent
    std::size_t pos = 0;
    for (std::size_t step = kBins; step > 0; step >>= 1)
      if (pos + step <= kBins && tree_[pos + step] < want) {
        pos += step;
        want -= tree_[pos];
      }
    return kTail + (static_cast<double>(pos) + 0.5) / kBins * (1 - kTail);
  }

 private:
  std::uint64_t below_ = 0;
  std::uint64_t tail_ = 0;
  std::vector<std::uint32_t> tree_;
};

// Counts and latencies of both versions over one stretch (a ramp step, or a rolling block).
struct Stretch {
  std::uint64_t requests[2] = {}, errors[2] = {}, unavailable[2] = {};
  OrderStatistics latency[2];
  std::vector<std::uint64_t> endpoint_requests[2], endpoint_errors[2];  // per endpoint (none: totals only)
  TimeClusters time[2];  // slices of time, as the aggregator's stretches keep them
};

struct Scenario {
  VersionModel legacy;
  VersionModel canary;
  std::uint64_t seconds = 3600;                // how long a run lasts at most
  std::uint64_t stop_after_canary = UINT64_MAX;  // or after this many canary requests
  bool evaluate_gate = true;
  // The P95 bounds' widening: the aggregator's sketch bound, or 0 for exact order statistics.
  double latency_relative_error = LatencySketch::kRelativeBound;
  double total_rate = 0;  // requests per second; 0: drawn from 20 to 2,000 (log-uniform)
  // From this second on (and drawn uniformly up to it when break_by > break_at) the versions
  // follow the *_after models; a run then lasts at most stop_after_break more seconds.
  std::uint64_t break_at = UINT64_MAX;
  std::uint64_t break_by = 0;
  std::uint64_t stop_after_break = UINT64_MAX;
  VersionModel legacy_after;
  VersionModel canary_after;
  // Bursts of canary errors (plain 500s) starting at random, on average every burst_every_s
  // seconds (0: none), each burst_s long at burst_error_rate.
  double burst_every_s = 0;
  std::uint64_t burst_s = 0;
  double burst_error_rate = 0;
  std::vector<EndpointModel> endpoints;  // empty: the totals only
  bool stratified = true;  // the comparisons against legacy post-stratified by endpoint (false: pooled, as before)
};

struct RunResult {
  bool rolled_back = false;
  std::uint64_t rollback_second = 0;
  std::uint64_t break_second = 0;  // when the versions changed (a break scenario)
  std::uint64_t canary_requests_after_break = 0;  // before the rollback, or in all
  std::string trigger;  // what rolled back: "check window[ endpoint]"
  std::uint64_t rollback_canary_requests = 0;
  bool gate_held = false;
  std::uint64_t gate_canary_requests = 0;
  std::uint64_t canary_requests = 0;
};

// The judge under test (confidence sequences), or the seed's plain rules.
enum class Rules { confidence_sequences, seed_plain };

class Simulator {
 public:
  Simulator(const Policy& policy, Rules rules) : policy_(policy), rules_(rules) {}

  RunResult run(const Scenario& s, std::uint64_t seed) const {
    std::mt19937_64 rng(seed);
    const double rate = s.total_rate > 0 ? s.total_rate
                                         : std::exp(std::uniform_real_distribution<double>(std::log(20.0), std::log(2000.0))(rng));
    std::poisson_distribution<std::uint64_t> arrivals[2] = {std::poisson_distribution<std::uint64_t>(0.95 * rate),
                                                            std::poisson_distribution<std::uint64_t>(0.05 * rate)};
    std::uniform_real_distribution<double> tail_rank(OrderStatistics::kTail, 1.0);
    const std::uint64_t block_s = policy_.rollback.window_ms / 2000;
    RunResult result;
    result.break_second = s.break_by > s.break_at ? std::uniform_int_distribution<std::uint64_t>(s.break_at, s.break_by)(rng) : s.break_at;
    const std::uint64_t last_second =
        result.break_second == UINT64_MAX || s.stop_after_break == UINT64_MAX ? s.seconds : result.break_second + s.stop_after_break;
    // The share of each version's requests slower than the P95 limit: what the change detector
    // of the P95 trigger counts.
    const double slow_before[2] = {s.legacy.share_slower_than(policy_.rollback.max_p95_ms),
                                   s.canary.share_slower_than(policy_.rollback.max_p95_ms)};
    const double slow_after[2] = {s.legacy_after.share_slower_than(policy_.rollback.max_p95_ms),
                                  s.canary_after.share_slower_than(policy_.rollback.max_p95_ms)};

    auto new_stretch = [&s] {
      auto out = std::make_unique<Stretch>();
      for (auto& v : out->endpoint_requests) v.assign(s.endpoints.size(), 0);
      for (auto& v : out->endpoint_errors) v.assign(s.endpoints.size(), 0);
      return out;
    };
    auto step = new_stretch();
    // The rolling window: blocks of half the window; the older live block (a half to a whole
    // window of data) is judged, as the aggregator does.
    std::vector<std::unique_ptr<Stretch>> blocks;
    blocks.push_back(new_stretch());
    std::uint64_t oldest_block_index = 1;
    ChangeWatch watch(policy_);
    double endpoint_total[2] = {0, 0};
    for (const EndpointModel& e : s.endpoints)
      for (int v = 0; v < 2; ++v) endpoint_total[v] += e.weight(v);

    std::uint64_t burst_until = 0;
    for (std::uint64_t t = 1; t <= last_second; ++t) {
      const bool broken = t >= result.break_second;
      if (s.burst_every_s > 0 && t >= burst_until && std::uniform_real_distribution<double>(0, 1)(rng) < 1 / s.burst_every_s)
        burst_until = t + s.burst_s;
      const bool in_burst = t < burst_until;
      const VersionModel* models[2] = {broken ? &s.legacy_after : &s.legacy, broken ? &s.canary_after : &s.canary};
      IntervalCounts interval[2];
      const std::vector<Stretch*> stretches = all(step, blocks);
      for (int v = 0; v < 2; ++v) {
        const std::uint64_t m = arrivals[v](rng);
        const VersionModel& model = *models[v];
        std::uint64_t errors = 0;
        std::uint64_t burst_errors = 0;  // beyond the model's, none unavailable
        if (s.endpoints.empty()) {
          errors = std::binomial_distribution<std::uint64_t>(m, model.error_rate)(rng);
          if (v == 1 && in_burst)
            burst_errors = std::binomial_distribution<std::uint64_t>(
                m - errors, (s.burst_error_rate - model.error_rate) / (1 - model.error_rate))(rng);
        } else {  // a multinomial split over the endpoints, each with its own error rate
          std::uint64_t left = m;
          double weight_left = endpoint_total[v];
          for (std::size_t e = 0; e < s.endpoints.size(); ++e) {
            const EndpointModel& em = s.endpoints[e];
            const double share = weight_left > 0 ? std::min(1.0, em.weight(v) / weight_left) : 0.0;
            const std::uint64_t here =
                e + 1 == s.endpoints.size() && em.weight(v) > 0 ? left : std::binomial_distribution<std::uint64_t>(left, share)(rng);
            left -= here;
            weight_left -= em.weight(v);
            const std::uint64_t bad =
                std::binomial_distribution<std::uint64_t>(here, v == 1 ? em.canary_error_rate : em.legacy_error_rate)(rng);
            for (Stretch* st : stretches) {
              st->endpoint_requests[v][e] += here;
              st->endpoint_errors[v][e] += bad;
            }
            errors += bad;
          }
        }
        const std::uint64_t unavailable =
            errors == 0 || model.unavailable_rate <= 0
                ? 0
                : std::binomial_distribution<std::uint64_t>(errors, std::min(1.0, model.unavailable_rate / model.error_rate))(rng);
        errors += burst_errors;
        const std::uint64_t tail = std::binomial_distribution<std::uint64_t>(m, 1 - OrderStatistics::kTail)(rng);
        std::vector<double> tail_ranks(tail);
        for (double& u : tail_ranks) u = tail_rank(rng);
        for (Stretch* stretch : stretches) {
          stretch->requests[v] += m;
          stretch->errors[v] += errors;
          stretch->unavailable[v] += unavailable;
          stretch->latency[v].add_below(m - tail);
          stretch->time[v].add(m, errors, unavailable, 1.0);
          for (double u : tail_ranks) stretch->latency[v].add_tail(u);
        }
        const double slow = broken ? slow_after[v] : slow_before[v];
        interval[v] = {m, errors, unavailable, m, slow > 0 ? std::binomial_distribution<std::uint64_t>(m, slow)(rng) : 0};
        if (v == 1 && broken) result.canary_requests_after_break += m;
      }
      watch.update(interval, 1.0);
      result.canary_requests = step->requests[1];
      if (t % block_s == 0) {
        blocks.push_back(new_stretch());
        if (blocks.size() > 2) {
          blocks.erase(blocks.begin());
          ++oldest_block_index;
        }
      }

      const bool rollback =
          rules_ == Rules::seed_plain ? plain_rollback(*step, s) : judged(*step, *blocks.front(), oldest_block_index, watch, s, result);
      if (rollback) {
        result.rolled_back = true;
        result.rollback_second = t;
        result.rollback_canary_requests = step->requests[1];
        return result;
      }
      if (s.evaluate_gate && !result.gate_held && rules_ == Rules::seed_plain && plain_gate(*step, s)) {
        result.gate_held = true;
        result.gate_canary_requests = step->requests[1];
      }
      if (step->requests[1] >= s.stop_after_canary) return result;
    }
    return result;
  }

 private:
  static std::vector<Stretch*> all(std::unique_ptr<Stretch>& step, std::vector<std::unique_ptr<Stretch>>& blocks) {
    std::vector<Stretch*> out{step.get()};
    for (auto& b : blocks) out.push_back(b.get());
    return out;
  }

  static VersionEvidence evidence(const Stretch& st, int v, const VersionModel& model, double relative_error) {
    VersionEvidence e;
    e.requests = st.requests[v];
    e.errors = st.errors[v];
    e.unavailable = st.unavailable[v];
    e.latency_samples = st.requests[v];
    e.latency_relative_error = relative_error;
    e.time_design_effect = st.time[v].design_effect();
    e.unavailable_time_design_effect = st.time[v].unavailable_design_effect();
    e.time_slices = std::max<std::uint64_t>(1, st.time[v].slices());
    const OrderStatistics* latency = &st.latency[v];
    e.latency_at = [latency, &model](double fraction) { return model.latency_at_rank(latency->rank_at(fraction)); };
    return e;
  }

  bool judged(const Stretch& step, const Stretch& recent, std::uint64_t recent_index, const ChangeWatch& watch,
              const Scenario& s, RunResult& result) const {
    const double e = s.latency_relative_error;
    // Latency ranks map to milliseconds through the scenario's first models: a break changes
    // error and unavailable rates, not latency.
    const VersionModel& canary = s.canary;
    const VersionModel& legacy = s.legacy;
    Evidence step_evidence{evidence(step, 1, canary, e), evidence(step, 0, legacy, e), 1, "step", {}};
    Evidence recent_evidence{evidence(recent, 1, canary, e), evidence(recent, 0, legacy, e), recent_index, "recent", {}};
    JudgeInput input;
    input.step = &step_evidence;
    input.recent = &recent_evidence;
    input.changes = &watch;
    // Comparisons against legacy post-stratified by endpoint, as the aggregator does.
    for (std::size_t i = 0; s.stratified && i < s.endpoints.size(); ++i) {
      const std::string name = "/endpoint/" + std::to_string(i);
      step_evidence.strata.push_back({name, step.endpoint_requests[1][i], step.endpoint_errors[1][i], step.endpoint_requests[0][i],
                                      step.endpoint_errors[0][i]});
      recent_evidence.strata.push_back({name, recent.endpoint_requests[1][i], recent.endpoint_errors[1][i],
                                        recent.endpoint_requests[0][i], recent.endpoint_errors[0][i]});
    }
    for (std::size_t i = 0; i < s.endpoints.size(); ++i) {
      EndpointEvidence ep;
      ep.name = "/endpoint/" + std::to_string(i);
      for (int v = 0; v < 2; ++v) {
        VersionEvidence& ve = v == 1 ? ep.canary : ep.legacy;
        ve.requests = step.endpoint_requests[v][i];
        ve.errors = step.endpoint_errors[v][i];
      }
      input.endpoints.push_back(std::move(ep));
    }
    JudgeOptions options;
    options.evaluate_gate = s.evaluate_gate && !result.gate_held;
    options.compute_every_bound = false;
    const Judgement j = judge(policy_, input, options);
    if (j.gate_holds) {
      result.gate_held = true;
      result.gate_canary_requests = step.requests[1];
    }
    if (const Check* t = j.first_trigger()) result.trigger = t->name + " " + t->window + (t->endpoint.empty() ? "" : " " + t->endpoint);
    return j.rollback;
  }

  // The seed's rules as written, on point estimates of the cumulative data.
  bool plain_rollback(const Stretch& st, const Scenario& s) const {
    const auto n = static_cast<double>(st.requests[1]);
    if (n == 0) return false;
    const double error_rate = 100 * static_cast<double>(st.errors[1]) / n;
    const double availability = 100 * (1 - static_cast<double>(st.unavailable[1]) / n);
    const double p95 = s.canary.latency_at_rank(st.latency[1].rank_at(0.95));
    const RollbackPolicy& r = policy_.rollback;
    return error_rate > r.max_error_rate_percent || p95 > r.max_p95_ms || availability < r.min_availability_percent;
  }

  bool plain_gate(const Stretch& st, const Scenario& s) const {
    if (st.requests[1] <= policy_.gate.min_canary_requests || st.requests[0] == 0) return false;
    const double canary = static_cast<double>(st.errors[1]) / static_cast<double>(st.requests[1]);
    const double legacy = static_cast<double>(st.errors[0]) / static_cast<double>(st.requests[0]);
    const double c95 = s.canary.latency_at_rank(st.latency[1].rank_at(0.95));
    const double l95 = s.legacy.latency_at_rank(st.latency[0].rank_at(0.95));
    return 100 * (canary - legacy) < policy_.gate.max_error_rate_increase_points &&
           (c95 - l95) / l95 < policy_.gate.max_p95_increase;
  }

  Policy policy_;
  Rules rules_;
};

}  // namespace canary::simulation
