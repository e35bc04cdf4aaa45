// SPDX-License-Identifier: Apache-2.0
// The aggregator: the one consumer of every ring. It drains rings into per-(version, endpoint)
// window series every drain period, and every interval sums the slabs (the exact counts),
// advances the windows, builds a snapshot for the admin API, publishes the summary in the
// segment, and now and then writes a checkpoint of its digests. A second thread publishes the
// heartbeat and the coarse clock that workers stamp ring records with.
#pragma once

#include <atomic>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "canary/decision/engine.hpp"
#include "canary/decision/policy.hpp"
#include "canary/events.hpp"
#include "canary/experiment/tracker.hpp"
#include "canary/health.hpp"
#include "canary/interval_journal.hpp"
#include "canary/layout.hpp"
#include "canary/memory_budget.hpp"
#include "canary/ring.hpp"
#include "canary/slab.hpp"
#include "canary/status.hpp"
#include "canary/window_series.hpp"

namespace canary {

class Segment;

struct AggregatorOptions {
  std::uint32_t interval_ms = 1000;  // summaries, windows, slab sums
  std::uint32_t drain_ms = 10;       // how often rings are drained, so they never fill between intervals
  std::string state_dir;             // where the checkpoint and the journal go; empty: none
  std::uint32_t checkpoint_s = 10;
  Policy policy;                     // the decisions' thresholds, ramp and fail-safe
  std::uint64_t experiment_users = experiment::kDefaultMaxUsers;  // the experiments' memory bound
  std::uint64_t memory_limit_bytes = 0;  // --memory-limit: the long windows coarsen beyond it; 0: none
};

// One version (of one endpoint, or of all) over one window.
struct VersionWindow {
  WindowCounts counts;
  double p50_us = std::nan("");
  double p95_us = std::nan("");
  double p99_us = std::nan("");
  double samples = 0;  // ring records behind the quantiles
};

// What the aggregator knew at the end of an interval. Immutable once published.
struct AggregatorSnapshot {
  std::uint64_t taken_unix_ns = 0;
  std::uint64_t monotonic_ms = 0;
  std::uint32_t interval_ms = 0;
  std::uint32_t endpoint_capacity = 0;
  std::shared_ptr<const ConfigData> config;
  VersionWindow totals[kWindowCount][kMaxVersions];
  std::vector<VersionWindow> endpoints[kWindowCount];  // [version * endpoint_capacity + endpoint]
  SlabTotals slabs;                                    // cumulative, histograms included
  std::uint64_t ring_full_drops = 0, no_ring_drops = 0, reaped_records = 0;
  std::uint64_t crashed_in_flight = 0;  // requests of dead writers counted as unavailable
  std::uint64_t lost_records = 0;       // drained by aggregators killed before they kept them
  std::uint64_t latency_clamped = 0;    // records above an hour, recorded as an hour
  std::uint64_t drained_records = 0, invalid_records = 0;
  std::uint64_t last_drain_unix_ns = 0;
  std::shared_ptr<const DecisionStatus> decision;  // the first candidate's (the two-version view)
  // Every active candidate's, by version index (the baseline's and inactive slots' are null).
  std::shared_ptr<const DecisionStatus> decisions[kMaxVersions];
  std::vector<Event> recent_events;  // oldest first, from the segment's event log
  std::shared_ptr<const ExperimentResultsData> experiments;  // the totals published this interval
  MemoryBudget memory;  // what the aggregator held at the end of the interval, against its limit

  const VersionWindow& endpoint(Window w, Version v, EndpointId e) const {
    return endpoints[static_cast<std::size_t>(w)][static_cast<std::size_t>(v) * endpoint_capacity + e];
  }
  const VersionWindow& total(Window w, Version v) const {
    return totals[static_cast<std::size_t>(w)][static_cast<std::size_t>(v)];
  }
};

// The end of one interval, for fleet mode (fleet/host_agent.hpp): the cumulative counts, and the
// latencies drained during the interval, per version (every endpoint merged).
struct IntervalData {
  const SlabTotals* slabs = nullptr;
  std::uint32_t endpoint_capacity = 0;
  std::uint64_t config_generation = 0;
  std::uint64_t unix_ns = 0;
  Samples latency[kMaxVersions];
};

class Aggregator {
 public:
  // Takes the aggregator lock (Errc::busy if another aggregator holds it) and restores the
  // checkpoint in options.state_dir when it belongs to this segment.
  static Expected<std::unique_ptr<Aggregator>> start(Segment& segment, const AggregatorOptions& options);
  ~Aggregator();

  // One pass over every ring; returns the records drained.
  std::uint64_t drain();
  // drain() when --drain-ms has passed since the last one: called inside long work (tick()).
  void drain_if_due();
  // The work of one interval.
  void tick();
  // Drains and ticks on schedule, with a clock thread beside, until `stop` turns true; then
  // writes a last checkpoint. Returns early, with why, when the segment's name stops referring to
  // the file it mapped (removed or replaced): its workers are elsewhere now, and only a restart
  // finds them.
  Status run(const std::atomic<bool>& stop);

  std::shared_ptr<const AggregatorSnapshot> snapshot() const;
  // A copy: the policy may be replaced (set_policy) while another thread reads it.
  Policy policy() const;
  // Takes effect at the start of the next interval (thread-safe; SIGHUP's reload): thresholds at
  // once, the ramp and fail-safe written into the config.
  void set_policy(Policy policy);
  // Called, on the aggregator's thread, for every event that appears in the segment's log after
  // start (whoever made it) and, with a checkpoint, for those made while no aggregator ran. The
  // log is read after every drain, so a burst of changes is seen before it can wrap; events it
  // overwrote anyway are counted (health().events_lost) and named in the next event's lost_before.
  void on_event(std::function<void(const Event&)> listener) { event_listener_ = std::move(listener); }
  // Called on the aggregator's thread at the end of every interval, after the decisions and the
  // summary are out (set before run()).
  void on_interval(std::function<void(IntervalData&)> listener) { interval_listener_ = std::move(listener); }
  // What the admin API's server holds, counted in the memory the limit applies to (set before run()).
  void set_http_memory(std::function<std::uint64_t()> bytes) { http_memory_ = std::move(bytes); }
  // Fleet mode's connection, published in the summary (SummaryData::fleet_state); any thread.
  void set_fleet_state(std::uint8_t state) { fleet_state_.store(state, std::memory_order_relaxed); }
  Status save_checkpoint();
  AggregatorHealth& health() { return health_; }
  const AggregatorHealth& health() const { return health_; }
  // True once run() has drained the rings at least once (/readyz).
  bool ready() const { return drained_once_.load(std::memory_order_acquire); }
  // What the last start() said about the checkpoint ("restored ...", "none", or why not).
  const std::string& checkpoint_status() const { return checkpoint_status_; }
  Segment& segment() { return *segment_; }

 private:
  // What the state files hold of the previous run: the counts it had persisted when it last wrote one.
  struct Persisted {
    std::uint64_t run_id = 0;
    std::uint64_t requests = 0;
    std::uint64_t experiment[kMaxExperiments] = {};
  };
  Aggregator(Segment& segment, RingConsumer consumer, const AggregatorOptions& options);
  std::size_t key(std::uint32_t version, std::uint32_t endpoint) const { return version * capacity_ + endpoint; }
  // A drained record to the engines that judge its version (a baseline record: all of them).
  void feed_engines(const RingRecord& r) {
    engine_->add(r);
    for (DecisionEngine* e : extra_list_) e->add(r);
  }
  // extra_list_ from extra_engines_, after either changes.
  void list_extra_engines();
  // One engine per active candidate besides slot 1's (engine_), each at alpha / (active candidates).
  void match_engines(const ConfigData& config);
  Policy candidate_policy(std::size_t candidates) const;
  void publish_clock() const;
  // Follows a new config generation into the experiment tracker before records are counted, so
  // the first records after a `start` count (one acquire load when nothing changed).
  void sync_experiments();
  // Stops running experiments whose version-bound arm lost its version (rolled back, removed).
  void enforce_experiment_guardrails(const ConfigData& config);
  void deliver_events();
  void checkpoint_or_complain();
  void apply_pending_policy();
  void publish(const AggregatorSnapshot& s);
  // Adds up what the parts hold; at the limit, coarsens the long windows one step (memory_budget.hpp).
  void watch_memory(AggregatorSnapshot& s);
  Status load_checkpoint(Persisted& seen);
  std::string checkpoint_path() const;
  // The experiments' per-user state beside the checkpoint (SEGMENT.experiments in the state dir).
  std::string experiments_path() const;
  Status save_experiments();
  Status load_experiments(Persisted& seen);
  // The interval's journal entry is made of what the interval folds: each series' samples just
  // before it advances (journal_series), the decision engine's, and the experiment records drained
  // since the last entry; with the persisted counts it brings (docs/aggregator.md, "Restarts").
  struct EntryDraft {
    ByteWriter series;
    std::uint64_t series_count = 0;
    std::uint64_t requests = 0;  // latency samples in it
    ByteWriter engine;
  };
  void journal_series(EntryDraft& draft, std::size_t k, const WindowCounts& totals);
  std::string finish_entry(EntryDraft& draft, std::uint64_t now_ms, std::uint64_t experiment_records[kMaxExperiments]);
  void append_journal(const std::string& entry, std::uint64_t requests, const std::uint64_t (&experiment_records)[kMaxExperiments]);
  // Replays the journal's entries after the checkpoint's (series, engine) and after the experiment
  // state's (experiment records); how many, and the last persisted counts seen.
  std::size_t replay_journal(Persisted& requests_seen, Persisted& experiments_seen);
  // Records the previous run drained and did not persist: counted lost, said, and published.
  void count_lost_with_predecessor(const Persisted& drained, const Persisted& requests_seen,
                                   const Persisted& experiments_seen);
  // An exposure or event drained: counted, and kept for the next journal entry.
  void take_experiment_record(const RingRecord& r);
  // What this run drained, into the segment (for a successor, should this run be killed).
  void publish_drained_counts();
  // Folds every series' drained samples into its windows (a checkpoint holds no pending samples).
  void fold_pending();

  Segment* segment_;
  RingConsumer consumer_;
  AggregatorOptions options_;
  std::uint32_t capacity_;
  std::vector<WindowSeries> series_;  // [version * capacity + endpoint]
  std::uint64_t rollout_started_unix_ns_ = 0;
  std::unique_ptr<DecisionEngine> engine_;  // slot 1's, the first candidate's of a new segment
  std::unique_ptr<DecisionEngine> extra_engines_[kMaxVersions];  // the other candidates', by index
  std::vector<DecisionEngine*> extra_list_;  // the non-null extra_engines_: what each record visits
  std::size_t judged_candidates_ = 1;  // the split of alpha the engines were given
  Policy base_policy_;                 // before the split
  std::uint64_t last_event_seq_ = 0;
  std::function<void(const Event&)> event_listener_;
  std::function<void(IntervalData&)> interval_listener_;
  std::uint64_t drained_ = 0, invalid_ = 0;
  std::uint64_t drained_experiment_[kMaxExperiments] = {};  // of drained_, each experiment slot's
  // This run (its start, unix ns) and what of its drained records the state files hold: latency
  // samples folded into the series and persisted (journal or checkpoint), experiment records
  // persisted (journal or experiment state). A successor counts the rest as lost.
  std::uint64_t run_id_ = 0;
  std::uint64_t folded_requests_ = 0;
  std::uint64_t requests_persisted_ = 0;
  std::uint64_t experiments_persisted_[kMaxExperiments] = {};
  std::uint64_t lost_records_ = 0;  // over the segment's life (carried by the checkpoint)
  std::vector<RingRecord> unjournaled_;  // experiment records since the last entry (with a journal)
  std::uint64_t experiments_journal_seq_ = 0;  // the last entry the experiment state covers
  experiment::Tracker experiments_;
  std::uint64_t experiments_generation_ = 0;  // the config generation the tracker follows
  std::chrono::steady_clock::time_point last_drain_ = std::chrono::steady_clock::now();
  std::uint64_t last_checkpoint_ms_ = 0;
  std::unique_ptr<IntervalJournal> journal_;  // with a state dir
  std::uint64_t journal_seq_ = 0;             // the last interval journaled (or checkpointed)
  std::string checkpoint_status_ = "none";
  AggregatorHealth health_;
  MemoryBudget memory_;
  std::function<std::uint64_t()> http_memory_;
  bool warned_memory_exhausted_ = false;
  std::atomic<bool> drained_once_{false};
  std::atomic<std::uint8_t> fleet_state_{0};  // relaxed: a display value, read once per interval
  mutable std::mutex policy_mutex_;
  std::optional<Policy> pending_policy_;
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const AggregatorSnapshot> snapshot_;
};

}  // namespace canary
