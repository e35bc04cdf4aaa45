// SPDX-License-Identifier: Apache-2.0
// The aggregator's decisions. Every interval the engine judges the canary (judge.hpp) on two
// stretches of data and acts through the config block:
//
//  - the current ramp step, from its start: what the gate is judged on, and a trigger sequence;
//  - the rolling window (policy rollback.window, 5 minutes): kept as blocks of half the window,
//    the older of the two live blocks judged by the comparisons against legacy;
//  - the whole rollout, through change detectors for the absolute triggers (change_watch.hpp);
//  - each endpoint over the current step (policy `endpoints` marks critical and ignored ones).
//
// A trigger that holds rolls back at once (share 0, every worker's next request goes legacy). A
// gate that has held for the whole bake time of the step takes the next ramp step; a next step of
// 100% waits for `approve` when the policy says so. A step not passed within the policy's
// gate.max_step_duration becomes inconclusive. Paused or inconclusive: triggers still roll back,
// the ramp waits. Promoted or rolled back: nothing is judged until a new `start`.
//
// Counts come from the slabs (exact); latency quantiles from t-digests held by latency sketches
// (window_series.hpp's Samples) the engine keeps per version for the step and for each block, fed
// with the records the aggregator drains.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "canary/byte_io.hpp"
#include "canary/config.hpp"
#include "canary/decision/judge.hpp"
#include "canary/decision/policy.hpp"
#include "canary/decision/sample_ratio.hpp"
#include "canary/decision/time_clusters.hpp"
#include "canary/decision/user_buckets.hpp"
#include "canary/layout.hpp"
#include "canary/tdigest.hpp"
#include "canary/window_series.hpp"

namespace canary {

class Segment;

struct DecisionStatus {
  bool judged = false;  // false while promoted or rolled back, or before the first interval
  std::uint64_t judged_unix_ns = 0;
  Judgement judgement;
  std::uint64_t step_started_unix_ns = 0;
  std::uint64_t step_sequence = 0;
  std::uint64_t bake_ms = 0;
  std::uint64_t gate_held_ms = 0;  // how long the gate has held without a break; 0: it does not
  std::optional<std::uint32_t> next_step_bp;
  std::optional<std::uint64_t> last_rollback_latency_ms;
  SrmStatus srm;
  // Automatic decisions that could not be written into the config (logged; judged again).
  std::uint64_t decision_write_failures = 0;
  std::string last_decision_write_failure;
};

// The engine judges one candidate against the baseline: side 0 is the baseline, side 1 the
// candidate. The aggregator runs one per candidate.
inline constexpr std::uint32_t kSides = 2;

class DecisionEngine {
 public:
  DecisionEngine(Segment& segment, Policy policy, std::uint32_t interval_ms, std::uint32_t candidate = kFirstCandidate);
  std::uint32_t candidate() const { return candidate_; }

  const Policy& policy() const { return policy_; }
  // Replaces the thresholds, ramp and webhooks; the step's data and the gate's bake time stay, and
  // the change detectors whose limits did not move.
  void set_policy(Policy policy) {
    policy_ = std::move(policy);
    watch_.adopt(policy_);
    slow_over_us_ = static_cast<std::uint64_t>(policy_.rollback.max_p95_ms * 1000);
  }

  // Writes the policy's ramp, approval rule and fail-safe into the config.
  Status adopt_policy();

  // A drained record. Its latency waits in a plain buffer until the interval ends: sorting it once
  // into one digest per version, then merging that into the step's and the blocks', is a third of
  // the work of adding every record to each of them.
  void add(const RingRecord& r) {
    if (r.endpoint_id < ignored_.size() && ignored_[r.endpoint_id]) return;
    if (r.version != baseline_ && r.version != candidate_) return;  // another candidate's
    const std::uint32_t v = r.version == baseline_ ? 0 : 1;
    srm_.add(r.user_hash, v, r.endpoint_id);
    const bool slow = r.latency_us > slow_over_us_;
    ++interval_seen_[v];
    interval_slow_[v] += slow ? 1 : 0;
    if (r.endpoint_id < step_timed_[v].size()) {
      ++step_timed_[v][r.endpoint_id];
      step_slow_[v][r.endpoint_id] += slow ? 1 : 0;
    }
    if (r.user_hash != 0) {
      const StatusClass c = classify_status(r.status_code);
      const bool error = is_error(c) || (c == StatusClass::c4xx && policy_.rollback.count_4xx_as_errors);
      if (!interval_users_.add(v, r.endpoint_id, r.user_hash, error, is_unavailable(r.status_code))) fold_users();
    }
    // The baseline's latencies that the candidate could not have served (no user id, or an
    // endpoint it is not on) are in no comparison: they would compare unlike with unlike.
    if (v == 0 && (r.user_hash == 0 || (r.endpoint_id < comparable_.size() && !comparable_[r.endpoint_id]))) return;
    std::vector<double>& pending = pending_[v];
    pending.push_back(static_cast<double>(r.latency_us));
    if (pending.size() >= kMaxPending) fold_pending();
    if (r.coarse_ms != 0 && (first_record_ms_ == 0 || r.coarse_ms < first_record_ms_)) first_record_ms_ = r.coarse_ms;
  }

  // One interval: judge on the cumulative counts, then act. `counts` holds every (version,
  // endpoint) pair's cumulative counts, [version * capacity + endpoint].
  void tick(std::uint64_t now_ms, const std::vector<WindowCounts>& counts, std::uint32_t capacity, const ConfigData& config);

  std::shared_ptr<const DecisionStatus> status() const;
  // What the engine holds on the heap: its samples, buffers and the sample-ratio test's filter.
  std::size_t heap_bytes() const;

  // The checkpoint's part; `now_ms` on the clock tick() gets (monotonic): times are kept as ages.
  void serialize(ByteWriter& out, std::uint64_t now_ms);
  bool deserialize(ByteReader& in, std::uint64_t now_ms);

  // The latencies folded in since the last call, per version, for the aggregator's journal; and
  // their replay after a restart (into the step and the blocks, when the step is the same one).
  void journal_interval(ByteWriter& out);
  bool replay_interval(ByteReader& in);

 private:
  struct Stretch {
    std::uint64_t sequence = 1;
    std::uint64_t started_ms = 0;
    WindowCounts baseline[kSides];
    Samples latency[kSides];  // a digest held by its sketch: quantiles within 0.25%
    // [version * capacity + endpoint] at the step's start (the per-endpoint checks' counts).
    std::vector<WindowCounts> endpoint_baseline;
    // The identified users' requests since the stretch began: the comparisons with the baseline
    // and the design effects. A block restored from a checkpoint has none (users_tracked false):
    // its comparisons use the totals.
    UserBuckets users;
    bool users_tracked = true;
    TimeClusters time[kSides];  // the stretch's slices of time: bursts (time_clusters.hpp)
  };

  static constexpr std::size_t kMaxPending = 1 << 20;  // bounds the buffer between intervals
  void fold_pending();
  void fold_users();  // the interval's users into the step and the blocks
  void restart_step(std::uint64_t now_ms, const WindowCounts (&totals)[kSides], const std::vector<WindowCounts>& counts,
                    bool new_rollout);
  // Which endpoints the policy ignores, from the config's templates.
  void classify_endpoints(const ConfigData& config, std::uint32_t capacity);
  std::vector<EndpointEvidence> endpoint_evidence(const std::vector<WindowCounts>& counts, std::uint32_t capacity,
                                                  const ConfigData& config) const;
  void watch_changes(std::uint64_t now_ms, const WindowCounts (&totals)[kSides]);
  // The sample-ratio test's interval: sets the config's flag when it fails, restarts when a
  // person cleared it.
  void check_sample_ratio(const ConfigData& config, std::uint32_t capacity, bool new_rollout, DecisionStatus& status);
  void roll_blocks(std::uint64_t now_ms, const WindowCounts (&totals)[kSides]);
  // The comparisons with the baseline from a stretch's users (user_buckets.hpp): one stratum per
  // endpoint the policy does not ignore, and the design effects; nothing for a restored block.
  void add_comparisons(const Stretch& s, const ConfigData& config, std::uint32_t capacity, Evidence& e) const;
  Evidence evidence(Stretch& s, const WindowCounts (&totals)[kSides], const char* window);
  void act(const Judgement& j, const ConfigData& config, std::uint64_t now_ms, DecisionStatus& status);
  // strategy: blue_green: the switch once the gate is proven at the smoke share,
  // the promotion once the switched candidate baked without a trigger.
  void act_blue_green(const Judgement& j, const ConfigData& config, DecisionStatus& status);
  // A running step the gate has not passed within gate.max_step_duration becomes inconclusive.
  void give_up_if_overdue(const Judgement& j, const ConfigData& config, const DecisionStatus& status);
  // Writes an automatic decision into the config; a failure is logged here (the callers may
  // drop the result: the next interval judges again).
  Status change(const char* who, const char* what, const ConfigChange& edit, EventDraft& event);

  const VersionEntry& mine(const ConfigData& c) const { return c.versions[candidate_]; }

  Segment* segment_;
  std::uint32_t candidate_;
  std::uint32_t baseline_ = kBaseline;  // the config's, as the last interval saw it
  Policy policy_;
  std::uint32_t interval_ms_;
  // What identifies the step and the rollout the data belongs to (from the config).
  std::uint64_t step_key_ = 0;
  std::uint64_t rollout_key_ = 0;
  Stretch step_;
  std::deque<Stretch> blocks_;  // at most two: the older one is judged
  ChangeWatch watch_;
  WindowCounts watched_totals_[kSides];  // what the change detectors have seen
  std::uint64_t interval_seen_[kSides] = {};  // latencies drained this interval
  std::uint64_t interval_slow_[kSides] = {};  // of those, over rollback.max_p95_ms
  std::uint64_t slow_over_us_ = UINT64_MAX;
  // The step's drained latencies per endpoint, and those over rollback.max_p95_ms (legacy, canary).
  std::vector<std::uint64_t> step_timed_[2], step_slow_[2];
  std::vector<bool> ignored_;  // per endpoint id
  std::vector<bool> comparable_;  // per endpoint id: the candidate is on there (empty: all)
  UserBucketsInterval interval_users_;  // drained since the last fold
  SampleRatioCheck srm_;
  bool srm_flagged_ = false;  // the config's flag as the last interval saw it
  std::uint64_t write_failures_ = 0;
  std::string last_write_failure_;
  std::vector<double> pending_[kSides];
  Samples interval_[kSides];  // folded since journal_interval()
  std::uint64_t gate_held_since_ms_ = 0;
  std::uint64_t first_record_ms_ = 0;  // earliest coarse stamp drained since the last interval
  std::uint64_t last_tick_ms_ = 0;
  std::optional<std::uint64_t> last_rollback_latency_ms_;
  mutable std::mutex status_mutex_;
  std::shared_ptr<const DecisionStatus> status_;
};

}  // namespace canary
