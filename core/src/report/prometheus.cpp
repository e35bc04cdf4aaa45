// SPDX-License-Identifier: Apache-2.0
#include "canary/report/prometheus.hpp"

#include "canary/experiment/results.hpp"
#include "canary/versions.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "canary/fixed_text.hpp"
#include "canary/histogram.hpp"
#include "canary/report/memory_report.hpp"
#include "canary/versions.hpp"

namespace canary::report {

namespace {

std::string escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// A check judged on one endpoint carries it; one on the totals has no endpoint label.
std::string endpoint_label(const Check& k) {
  return k.endpoint.empty() ? std::string() : ",endpoint=\"" + escape(k.endpoint) + "\"";
}

// The shortest text that reads back as the same double: 0.05, not 0.050000000000000003.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char text[64];
  const auto result = std::to_chars(text, text + sizeof text, v);
  return std::string(text, result.ptr);
}

// "0.00025", "1.024", "60": the bounds are short decimals.
std::string bucket_label(std::uint64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", static_cast<double>(us) / 1e6);
  return text;
}

void family(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// SPEC section 10a: each experiment's arms, metrics and verdicts, from the totals this interval
// published (the same numbers as GET .../experiments/NAME).
void experiments_text(std::ostringstream& out, const ConfigData& config, const ExperimentResultsData& published) {
  std::vector<experiment::Results> all;
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x)
    if (config.experiments[x].state != static_cast<std::uint8_t>(ExperimentState::free))
      all.push_back(experiment::compute(config, x, experiment::totals_for(config, x, &published)));
  family(out, "canary_experiment_users_tracked", "gauge", "Users the aggregator keeps experiment state for, over all experiments.");
  out << "canary_experiment_users_tracked " << published.users_tracked << '\n';
  family(out, "canary_experiment_users_limit", "gauge", "The bound on users with experiment state (--experiment-users).");
  out << "canary_experiment_users_limit " << published.users_limit << '\n';
  if (all.empty()) return;
  family(out, "canary_experiment_state", "gauge", "1 for each experiment's current state.");
  for (const auto& r : all)
    for (std::uint32_t st = 1; st < kExperimentStateCount; ++st)
      out << "canary_experiment_state{experiment=\"" << r.name << "\",state=\"" << to_string(static_cast<ExperimentState>(st))
          << "\"} " << (static_cast<std::uint32_t>(r.state) == st ? 1 : 0) << '\n';
  struct Counter {
    const char* name;
    const char* help;
    std::uint64_t ExperimentTotals::*field;
  };
  for (const Counter& c : {Counter{"canary_experiment_records_dropped_total", "Exposures and events writers lost (ring full, no ring).",
                                   &ExperimentTotals::records_dropped},
                           Counter{"canary_experiment_users_untracked_total", "Records of users beyond the memory bound, not counted.",
                                   &ExperimentTotals::users_untracked},
                           Counter{"canary_experiment_records_ignored_total", "Records while not running or for an undeclared metric.",
                                   &ExperimentTotals::records_ignored},
                           Counter{"canary_experiment_arm_mismatches_total", "Records of a user under another arm than their first.",
                                   &ExperimentTotals::arm_mismatches},
                           Counter{"canary_experiment_records_lost_total",
                                   "Records an aggregator drained and lost when it was killed before keeping them.",
                                   &ExperimentTotals::records_lost}}) {
    family(out, c.name, "counter", c.help);
    for (const auto& r : all) out << c.name << "{experiment=\"" << r.name << "\"} " << r.totals.*c.field << '\n';
  }
  family(out, "canary_experiment_srm_detected", "gauge", "1 when the arms' split of users is proven off their shares.");
  for (const auto& r : all) out << "canary_experiment_srm_detected{experiment=\"" << r.name << "\"} " << (r.srm.detected ? 1 : 0) << '\n';
  family(out, "canary_experiment_users", "gauge", "Users seen in each arm.");
  for (const auto& r : all)
    for (const auto& a : r.arms) out << "canary_experiment_users{experiment=\"" << r.name << "\",arm=\"" << a.name << "\"} " << a.users << '\n';
  family(out, "canary_experiment_exposures_total", "counter", "Exposures recorded in each arm.");
  for (const auto& r : all)
    for (const auto& a : r.arms)
      out << "canary_experiment_exposures_total{experiment=\"" << r.name << "\",arm=\"" << a.name << "\"} " << a.exposures << '\n';
  const auto per_metric = [&](const char* name, const char* help, const auto& value) {
    family(out, name, "gauge", help);
    for (const auto& r : all)
      for (const auto& a : r.arms)
        for (const auto& m : a.metrics)
          out << name << "{experiment=\"" << r.name << "\",arm=\"" << a.name << "\",metric=\"" << m.name << "\"} "
              << number(value(m)) << '\n';
  };
  per_metric("canary_experiment_metric_mean", "Each metric's mean per user, by arm.", [](const auto& m) { return m.mean; });
  per_metric("canary_experiment_difference_lower", "The always-valid interval of the arm's mean minus control's: lower bound.",
             [](const auto& m) { return m.judgement.difference.lower; });
  per_metric("canary_experiment_difference_upper", "The always-valid interval of the arm's mean minus control's: upper bound.",
             [](const auto& m) { return m.judgement.difference.upper; });
  family(out, "canary_experiment_verdict", "gauge", "1 for each arm and metric's verdict: control_better, treatment_better, not_yet_proven.");
  for (const auto& r : all)
    for (std::size_t i = 1; i < r.arms.size(); ++i)
      for (const auto& m : r.arms[i].metrics)
        out << "canary_experiment_verdict{experiment=\"" << r.name << "\",arm=\"" << r.arms[i].name << "\",metric=\"" << m.name
            << "\",verdict=\"" << experiment::to_string(m.judgement.verdict) << "\"} 1\n";
}

}  // namespace

const std::vector<std::uint64_t>& exported_bucket_bounds_us() {
  // 0.1, 0.25, 0.5 ms, then 1 ms doubling to 32.768 s: each a slab bucket boundary (125 * 2^k us
  // sits on one at every octave), and 60 s.
  static const std::vector<std::uint64_t> bounds = [] {
    std::vector<std::uint64_t> b = {100, 250, 500};
    for (std::uint64_t us = 1000; us <= 32'768'000; us *= 2) b.push_back(us);
    b.push_back(kHistogramMaxUs + 1);
    return b;
  }();
  return bounds;
}

std::string prometheus_text(const AggregatorSnapshot& s, std::uint64_t heartbeat_unix_ns, const AggregatorHealth& health) {
  std::ostringstream out;
  const ConfigData* c = s.config.get();
  const std::uint32_t named = c ? c->endpoint_count : 1;
  auto endpoint_name = [&](std::uint32_t e) {
    return escape(c && e < named ? text_of(c->endpoints[e].path) : std::string_view("#" + std::to_string(e)));
  };
  // Version slots in use (retired ones too: their counters stay), labelled with their names.
  const std::uint32_t versions = c ? std::min<std::uint32_t>(c->version_count, kMaxVersions) : 2;
  auto name_of = [&](std::uint32_t v) {
    return escape(c ? version_name(*c, v) : to_string(static_cast<Version>(v)));
  };
  auto labels = [&](std::uint32_t v, std::uint32_t e) {
    return "version=\"" + name_of(v) + "\",endpoint=\"" + endpoint_name(e) + "\"";
  };

  // A registered endpoint's series exist from the start, at 0 (every version, method and code):
  // a query such as the error rate over code=~"0|5xx" answers 0 for a healthy version instead of
  // nothing, and rate() sees a counter's first increment. Slots never registered show only once
  // they count something.
  auto exported = [&](std::uint32_t e, const Counts& k) {
    return (c && e < named && c->endpoints[e].registered) || k.total() != 0;
  };
  family(out, "canary_requests_total", "counter",
         "Requests recorded by workers, by version, endpoint, method and status class (code 0: no response).");
  for (std::uint32_t v = 0; v < versions; ++v)
    for (std::uint32_t e = 0; e < s.endpoint_capacity; ++e) {
      const Counts& k = s.slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e));
      if (!exported(e, k)) continue;
      for (std::uint32_t m = 0; m < kMethodCount; ++m)
        for (std::uint32_t sc = 0; sc < kStatusClassCount; ++sc)
            out << "canary_requests_total{" << labels(v, e) << ",method=\"" << to_string(static_cast<Method>(m))
                << "\",code=\"" << to_string(static_cast<StatusClass>(sc)) << "\"} " << k.requests[m][sc] << '\n';
    }

  family(out, "canary_unavailable_total", "counter", "Requests answered 502, 503, 504 or not at all.");
  for (std::uint32_t v = 0; v < versions; ++v)
    for (std::uint32_t e = 0; e < s.endpoint_capacity; ++e) {
      const Counts& k = s.slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e));
      if (exported(e, k)) out << "canary_unavailable_total{" << labels(v, e) << "} " << k.unavailable() << '\n';
    }

  family(out, "canary_request_duration_seconds", "histogram",
         "Request latency from the per-CPU slab histograms (exact counts; a bucket counts values below le).");
  const auto& bounds = exported_bucket_bounds_us();
  for (std::uint32_t v = 0; v < versions; ++v)
    for (std::uint32_t e = 0; e < s.endpoint_capacity; ++e) {
      const Counts& k = s.slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e));
      if (!exported(e, k) || s.slabs.histograms.empty()) continue;
      const std::uint64_t* h = &s.slabs.histograms[(std::uint64_t{v} * s.endpoint_capacity + e) * kHistogramBuckets];
      std::uint64_t cumulative = 0;
      std::uint32_t b = 0;
      for (std::uint64_t bound : bounds) {
        while (b < kHistogramOverflowBucket && histogram_bucket_upper(b) <= bound) cumulative += h[b++];
        out << "canary_request_duration_seconds_bucket{" << labels(v, e) << ",le=\""
            << bucket_label(bound == kHistogramMaxUs + 1 ? kHistogramMaxUs : bound) << "\"} "
            << cumulative << '\n';
      }
      while (b < kHistogramBuckets) cumulative += h[b++];
      out << "canary_request_duration_seconds_bucket{" << labels(v, e) << ",le=\"+Inf\"} " << cumulative << '\n';
      out << "canary_request_duration_seconds_sum{" << labels(v, e) << "} "
          << number(static_cast<double>(k.latency_sum_us) / 1e6) << '\n';
      out << "canary_request_duration_seconds_count{" << labels(v, e) << "} " << cumulative << '\n';
    }

  // A summary as client libraries keep one: quantiles over a sliding window (5 minutes, from the
  // t-digests), _sum and _count cumulative (from the slabs).
  family(out, "canary_request_duration_digest_seconds", "summary",
         "Request latency quantiles over the last 5 minutes from the aggregator's t-digests; sum and count since the segment was created.");
  for (std::uint32_t v = 0; v < versions; ++v)
    for (std::uint32_t e = 0; e < s.endpoint_capacity; ++e) {
      const Counts& k = s.slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e));
      if (!exported(e, k)) continue;
      const VersionWindow& w = s.endpoint(Window::m5, static_cast<Version>(v), static_cast<EndpointId>(e));
      for (auto [q, value] : {std::pair{"0.5", w.p50_us}, {"0.95", w.p95_us}, {"0.99", w.p99_us}})
        out << "canary_request_duration_digest_seconds{" << labels(v, e) << ",quantile=\"" << q << "\"} "
            << number(value / 1e6) << '\n';
      out << "canary_request_duration_digest_seconds_sum{" << labels(v, e) << "} "
          << number(static_cast<double>(k.latency_sum_us) / 1e6) << '\n';
      out << "canary_request_duration_digest_seconds_count{" << labels(v, e) << "} " << k.total() << '\n';
    }

  family(out, "canary_ring_dropped_records_total", "counter",
         "Ring records lost to the digests (counts are unaffected): ring full, no free ring, or reaped.");
  out << "canary_ring_dropped_records_total{reason=\"ring_full\"} " << s.ring_full_drops << '\n'
      << "canary_ring_dropped_records_total{reason=\"no_free_ring\"} " << s.no_ring_drops << '\n'
      << "canary_ring_dropped_records_total{reason=\"reaped\"} " << s.reaped_records << '\n';
  family(out, "canary_aggregator_lost_records_total", "counter",
         "Latency samples and experiment records an aggregator drained and lost when it was killed before keeping them.");
  out << "canary_aggregator_lost_records_total " << s.lost_records << '\n';
  family(out, "canary_latency_clamped_total", "counter", "Records whose latency was above one hour, recorded as one hour.");
  out << "canary_latency_clamped_total " << s.latency_clamped << '\n';

  family(out, "canary_crashed_requests_total", "counter",
         "Requests in flight in writers that died before recording them, counted as unavailable (status 0).");
  out << "canary_crashed_requests_total " << s.crashed_in_flight << '\n';

  family(out, "canary_ring_drained_records_total", "counter", "Ring records the aggregator turned into digests.");
  out << "canary_ring_drained_records_total " << s.drained_records << '\n';

  if (c) {
    // One candidate: the two-version series, unlabelled. More: a `version` label on each.
    const std::vector<std::uint32_t> candidates = active_candidates(*c);
    const bool labelled = c->version_count > 2;
    auto by_version = [&](std::uint32_t v, const std::string& more) {
      if (!labelled) return more.empty() ? std::string() : "{" + more + "}";
      return "{version=\"" + name_of(v) + "\"" + (more.empty() ? "" : "," + more) + "}";
    };
    family(out, "canary_share_ratio", "gauge", "The share of users routed to the canary (each candidate), 0 to 1.");
    for (std::uint32_t v : candidates)
      out << "canary_share_ratio" << by_version(v, "") << ' '
          << number(static_cast<double>(c->versions[v].share_bp) / 10000.0) << '\n';
    family(out, "canary_enabled", "gauge", "1 when canary routing is enabled.");
    out << "canary_enabled " << (c->enabled ? 1 : 0) << '\n';
    family(out, "canary_deployment_state", "gauge", "1 for the deployment's (each candidate's) current state.");
    for (std::uint32_t v : candidates)
      for (std::uint32_t st = 0; st < kDeploymentStateCount; ++st)
        out << "canary_deployment_state"
            << by_version(v, "state=\"" + std::string(to_string(static_cast<DeploymentState>(st))) + "\"") << ' '
            << (c->versions[v].state == st ? 1 : 0) << '\n';
    family(out, "canary_config_generation", "gauge", "The published config generation.");
    out << "canary_config_generation " << c->generation << '\n';
    family(out, "canary_blue_green_switched", "gauge", "1 while a blue-green switch sends every user to one version.");
    out << "canary_blue_green_switched " << (c->switched ? 1 : 0) << '\n';
    family(out, "canary_awaiting_approval", "gauge", "1 when the ramp waits for approve before 100%.");
    for (std::uint32_t v : candidates)
      out << "canary_awaiting_approval" << by_version(v, "") << ' ' << (c->versions[v].awaiting_approval ? 1 : 0) << '\n';
    family(out, "canary_srm_detected", "gauge", "1 while a sample-ratio mismatch is flagged: ramp and promotion wait.");
    for (std::uint32_t v : candidates)
      out << "canary_srm_detected{version=\"" << name_of(v) << "\"} " << (c->versions[v].srm_detected ? 1 : 0) << '\n';
  }
  family(out, "canary_deployment_events_total", "counter", "Deployment events in the segment's log (starts, ramp steps, rollbacks, ...).");
  out << "canary_deployment_events_total " << (s.recent_events.empty() ? 0 : s.recent_events.back().seq) << '\n';
  if (s.decision && s.decision->judged) {
    const DecisionStatus& d = *s.decision;
    family(out, "canary_gate_holds", "gauge", "1 when the promotion gate is proven to hold (confidence sequences).");
    out << "canary_gate_holds " << (d.judgement.gate_holds ? 1 : 0) << '\n';
    family(out, "canary_rollback_proven", "gauge", "1 when a rollback trigger is proven to hold.");
    out << "canary_rollback_proven " << (d.judgement.rollback ? 1 : 0) << '\n';
    // One unit per name: each check's value, bound and threshold in its base unit (percentages
    // as ratios, milliseconds as seconds), under a name that ends in it.
    struct Unit {
      CheckUnit unit;
      const char* suffix;
      double divisor;  // a division, so that 5% is exactly the 0.05 a reader types
    };
    const Unit units[] = {{CheckUnit::percent, "ratio", 100},
                          {CheckUnit::ratio, "ratio", 1},
                          {CheckUnit::milliseconds, "seconds", 1000},
                          {CheckUnit::count, "requests", 1}};
    struct Series {
      const char* name;
      const char* help;
    };
    const Series series[] = {
        {"canary_decision_check_value", "The point estimate a gate or trigger check is about"},
        {"canary_decision_check_bound", "The confidence bound the check compares with its threshold"},
        {"canary_decision_check_threshold", "The check's threshold from the policy"},
    };
    for (const char* suffix : {"ratio", "seconds", "requests"}) {
      for (std::size_t f = 0; f < std::size(series); ++f) {
        const std::string name = std::string(series[f].name) + "_" + suffix;
        bool announced = false;
        auto emit = [&](const char* kind, const Check& k) {
          const Unit* u = std::find_if(std::begin(units), std::end(units), [&](const Unit& x) { return x.unit == k.unit; });
          if (u == std::end(units) || std::string_view(u->suffix) != suffix) return;
          if (!announced) family(out, name.c_str(), "gauge", (std::string(series[f].help) + " (" + suffix + ").").c_str());
          announced = true;
          const double v = f == 0 ? k.value : f == 1 ? k.bound : k.threshold;
          out << name << "{kind=\"" << kind << "\",check=\"" << k.name << "\",window=\"" << k.window << '"'
              << endpoint_label(k) << "} " << number(v / u->divisor) << '\n';
        };
        for (const Check& k : d.judgement.gate) emit("gate", k);
        for (const Check& k : d.judgement.triggers) emit("trigger", k);
      }
    }
    family(out, "canary_decision_check_holds", "gauge",
           "1 when the check holds: a trigger's breach, or the gate's compliance, is proven.");
    auto holds = [&](const char* kind, const Check& k) {
      out << "canary_decision_check_holds{kind=\"" << kind << "\",check=\"" << k.name << "\",window=\"" << k.window << '"'
          << endpoint_label(k) << "} " << (k.holds ? 1 : 0) << '\n';
    };
    for (const Check& k : d.judgement.gate) holds("gate", k);
    for (const Check& k : d.judgement.triggers) holds("trigger", k);
    family(out, "canary_decision_check_samples", "gauge", "The samples behind a check, by version.");
    auto samples = [&](const char* kind, const Check& k) {
      for (auto [version, n] : {std::pair{"canary", k.canary_samples}, {"legacy", k.legacy_samples}})
        out << "canary_decision_check_samples{kind=\"" << kind << "\",check=\"" << k.name << "\",window=\"" << k.window
            << '"' << endpoint_label(k) << ",version=\"" << version << "\"} " << n << '\n';
    };
    for (const Check& k : d.judgement.gate) samples("gate", k);
    for (const Check& k : d.judgement.triggers) samples("trigger", k);
    // The rate checks' design effects: how far fewer independent requests their counts were worth.
    family(out, "canary_decision_check_design_effect", "gauge",
           "A rate check's design effect: its counts were worth as many as requests / this independent ones (users, bursts).");
    auto design_effect = [&](const char* kind, const Check& k) {
      const bool rate = k.name == "canary_error_rate" || k.name == "canary_availability" || k.name == "error_rate_increase";
      if (!rate || k.window == "change") return;
      out << "canary_decision_check_design_effect{kind=\"" << kind << "\",check=\"" << k.name << "\",window=\"" << k.window
          << '"' << endpoint_label(k) << "} " << number(k.design_effect) << '\n';
    };
    for (const Check& k : d.judgement.gate) design_effect("gate", k);
    for (const Check& k : d.judgement.triggers) design_effect("trigger", k);
  }
  if (s.decision) {
    family(out, "canary_decision_write_failures_total", "counter",
           "Automatic decisions (rollback, ramp step, promotion, flags) that could not be written into the config.");
    out << "canary_decision_write_failures_total " << s.decision->decision_write_failures << '\n';
  }
  if (s.decision && s.decision->last_rollback_latency_ms) {
    family(out, "canary_rollback_latency_seconds", "gauge",
           "The last automatic rollback: from the first record that made it provable to the config change.");
    out << "canary_rollback_latency_seconds "
        << number(static_cast<double>(*s.decision->last_rollback_latency_ms) / 1000.0) << '\n';
  }

  struct Failure {
    const char* name;
    const char* help;
    const FailureCounter& counter;
  };
  for (const Failure& f : {Failure{"canary_checkpoint_failures_total", "Checkpoints that could not be written.", health.checkpoint},
                           Failure{"canary_journal_failures_total", "Interval journal entries that could not be written.", health.journal},
                           Failure{"canary_event_write_failures_total", "Events that could not be appended to events.jsonl.", health.event_write},
                           Failure{"canary_webhook_failures_total", "Webhook deliveries given up after their retries, or dropped from a full queue.", health.webhook}}) {
    family(out, f.name, "counter", f.help);
    out << f.name << ' ' << f.counter.view().total << '\n';
  }
  family(out, "canary_events_lost_total", "counter", "Events the segment's log overwrote before the aggregator read them.");
  out << "canary_events_lost_total " << health.events_lost.load(std::memory_order_relaxed) << '\n';

  family(out, "canary_aggregator_last_drain_timestamp_seconds", "gauge", "When the aggregator last drained the rings.");
  out << "canary_aggregator_last_drain_timestamp_seconds " << number(static_cast<double>(s.last_drain_unix_ns) / 1e9) << '\n';
  family(out, "canary_aggregator_heartbeat_timestamp_seconds", "gauge", "The aggregator's last heartbeat.");
  out << "canary_aggregator_heartbeat_timestamp_seconds " << number(static_cast<double>(heartbeat_unix_ns) / 1e9) << '\n';
  memory_metrics(out, s.memory);
  if (s.config && s.experiments) experiments_text(out, *s.config, *s.experiments);
  return out.str();
}

}  // namespace canary::report
