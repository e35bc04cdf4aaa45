// SPDX-License-Identifier: Apache-2.0
#include "canary/aggregator.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/log.hpp"
#include "canary/segment.hpp"
#include "canary/summary.hpp"
#include "canary/versions.hpp"

namespace canary {

namespace {

VersionWindow describe(const WindowCounts& counts, Samples& samples) {
  VersionWindow v;
  v.counts = counts;
  v.samples = static_cast<double>(samples.sketch.count());
  if (!samples.empty()) {
    v.p50_us = samples.quantile(0.50);
    v.p95_us = samples.quantile(0.95);
    v.p99_us = samples.quantile(0.99);
  }
  return v;
}

SummaryStats summary_of(const VersionWindow& v) {
  return {v.counts.requests, v.counts.errors, v.counts.client_errors, v.counts.unavailable, v.counts.latency_sum_us,
          v.p50_us / 1000, v.p95_us / 1000, v.p99_us / 1000};
}

}  // namespace

Aggregator::Aggregator(Segment& segment, RingConsumer consumer, const AggregatorOptions& options)
    : segment_(&segment),
      consumer_(std::move(consumer)),
      options_(options),
      capacity_(segment.geometry().params.endpoint_capacity),
      engine_(std::make_unique<DecisionEngine>(segment, options.policy, options.interval_ms)),
      base_policy_(options.policy),
      run_id_(unix_now_ns()),
      experiments_(options.experiment_users),
      memory_(options.memory_limit_bytes) {}

Aggregator::~Aggregator() = default;

Expected<std::unique_ptr<Aggregator>> Aggregator::start(Segment& segment, const AggregatorOptions& options) {
  auto consumer = RingConsumer::open(segment);
  if (!consumer) return consumer.status();
  std::unique_ptr<Aggregator> a(new Aggregator(segment, std::move(*consumer), options));

  // What the previous run left in the segment: read before this one's first drain replaces it.
  AggregatorArea& area = segment.aggregator();
  Persisted drained_before;
  drained_before.run_id = area.run_id.load(std::memory_order_relaxed);  // relaxed: its writer is gone
  drained_before.requests = area.drained_records.load(std::memory_order_relaxed);
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    drained_before.experiment[x] = area.drained_experiment_records[x].load(std::memory_order_relaxed);
    drained_before.requests -= std::min(drained_before.requests, drained_before.experiment[x]);
  }
  a->lost_records_ = area.lost_records.load(std::memory_order_relaxed);

  auto config = std::make_unique<ConfigData>();
  if (!read_config(segment.config(), *config, a->capacity_).ok)
    return Status{Errc::corrupt, "segment '" + segment.name() + "' is corrupt: its config has no valid copy"};
  if (Status s = a->engine_->adopt_policy(); !s.ok()) return s;
  // Without a checkpoint, events from before this start are history: not sent again.
  const std::vector<Event> existing = read_events(segment);
  a->last_event_seq_ = existing.empty() ? 0 : existing.back().seq;
  Persisted requests_seen, experiments_seen;  // what the state files kept of earlier runs
  if (!options.state_dir.empty()) {
    const Status restored = a->load_checkpoint(requests_seen);
    a->checkpoint_status_ = restored.ok() ? "restored from " + a->checkpoint_path() : restored.message();
    a->journal_ = std::make_unique<IntervalJournal>(options.state_dir + "/" + segment.name() + ".journal");
    // The experiments the config has now first, so only their own users come back.
    a->sync_experiments();
    if (const Status s = a->load_experiments(experiments_seen); s.ok())
      a->checkpoint_status_ += "; experiments restored from " + a->experiments_path();
    else if (s.code() != Errc::missing)
      log(LogLevel::error, "experiment state not restored: running experiments count from now",
          {{"segment", segment.name()}, {"error", s.message()}});
  }
  if (a->series_.empty()) {
    // No checkpoint: windows start now, from the cumulative counts the slabs hold; `all` counts
    // from the segment's creation.
    const SlabTotals totals = sum_slabs(segment, false);
    const std::uint64_t now = monotonic_ms();
    for (std::uint32_t v = 0; v < kMaxVersions; ++v)
      for (std::uint32_t e = 0; e < a->capacity_; ++e) {
        a->series_.emplace_back(now, WindowCounts::of(totals.at(static_cast<Version>(v), static_cast<EndpointId>(e))));
      }
    a->rollout_started_unix_ns_ = config->rollout_started_unix_ns;
  }
  if (a->journal_) {
    // The intervals journaled after the checkpoint; then one checkpoint that holds them all, so
    // the journal starts empty.
    const std::size_t replayed = a->replay_journal(requests_seen, experiments_seen);
    a->count_lost_with_predecessor(drained_before, requests_seen, experiments_seen);
    if (replayed > 0) {
      a->checkpoint_status_ += "; " + std::to_string(replayed) + " journaled intervals replayed";
      a->checkpoint_or_complain();
    }
  }

  // relaxed: read only by a successor, once this process is gone (or by tools, for display).
  area.run_id.store(a->run_id_, std::memory_order_relaxed);
  area.drained_records.store(0, std::memory_order_relaxed);
  for (auto& n : area.drained_experiment_records) n.store(0, std::memory_order_relaxed);
  area.lost_records.store(a->lost_records_, std::memory_order_relaxed);
  area.pid.store(static_cast<std::uint32_t>(getpid()), std::memory_order_relaxed);
  area.interval_ms.store(options.interval_ms, std::memory_order_relaxed);
  a->publish_clock();
  a->last_checkpoint_ms_ = monotonic_ms();
  a->tick();
  return a;
}

void Aggregator::publish_clock() const {
  AggregatorArea& area = segment_->aggregator();
  // relaxed: each is a single word read on its own (a timestamp); nothing is published through them.
  area.coarse_clock_ms.store(monotonic_ms(), std::memory_order_relaxed);
  area.heartbeat_unix_ns.store(unix_now_ns(), std::memory_order_relaxed);
}

void Aggregator::sync_experiments() {
  // acquire: pairs with publish_config's release; a new generation's copy is complete.
  const std::uint64_t published = segment_->config().published.load(std::memory_order_acquire);
  if (published == experiments_generation_) return;
  auto config = std::make_unique<ConfigData>();
  if (!read_config(segment_->config(), *config, capacity_).ok) return;  // the next drain tries again
  experiments_.sync(*config);
  experiments_generation_ = published;
}

void Aggregator::enforce_experiment_guardrails(const ConfigData& config) {
  for (const std::string& name : experiment::unguarded(config)) {
    const std::string reason = "stopped by the aggregator: an arm's version was rolled back or removed";
    const Status s = update_config(*segment_, "canary-aggregator (experiment guardrail)", [&](ConfigData& c) {
      return experiment::stop(c, name, reason, unix_now_ns());
    });
    if (s.ok())
      log(LogLevel::warn, "experiment stopped: an arm's version was rolled back or removed",
          {{"segment", segment_->name()}, {"experiment", name}});
    else
      log(LogLevel::error, "could not stop an experiment whose arm's version was rolled back",
          {{"segment", segment_->name()}, {"experiment", name}, {"error", s.message()}});
  }
}

std::uint64_t Aggregator::drain() {
  sync_experiments();
  AggregatorArea& area = segment_->aggregator();
  const DrainStats stats = consumer_.drain(
      [this](const RingRecord& r) {
        ++drained_;
        if (r.kind != kRecordRequest) return take_experiment_record(r);
        series_[key(r.version, r.endpoint_id)].add(r.latency_us);
        feed_engines(r);
      },
      [this] { publish_drained_counts(); });
  invalid_ += stats.invalid;
  last_drain_ = std::chrono::steady_clock::now();
  area.last_drain_unix_ns.store(unix_now_ns(), std::memory_order_relaxed);
  deliver_events();
  // release: whoever sees ready() also sees the first drain's effects published above.
  drained_once_.store(true, std::memory_order_release);
  return stats.records;
}

void Aggregator::publish_drained_counts() {
  AggregatorArea& area = segment_->aggregator();
  // relaxed: single words a successor reads once this process is gone, or tools for display.
  area.drained_records.store(drained_, std::memory_order_relaxed);
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x)
    area.drained_experiment_records[x].store(drained_experiment_[x], std::memory_order_relaxed);
}

void Aggregator::take_experiment_record(const RingRecord& r) {
  experiments_.add(r);
  ++drained_experiment_[record_experiment(r)];  // valid_record(): within kMaxExperiments
  if (journal_) unjournaled_.push_back(r);
}

void Aggregator::drain_if_due() {
  // Only keeps a running drain loop going: the first drain is the loop's (readiness means it ran).
  if (!drained_once_.load(std::memory_order_relaxed)) return;
  if (std::chrono::steady_clock::now() - last_drain_ >= std::chrono::milliseconds(std::max<std::uint32_t>(1, options_.drain_ms)))
    drain();
}

void Aggregator::deliver_events() {
  const auto& events = *reinterpret_cast<const EventLogHeader*>(segment_->region(RegionId::events));
  // acquire: pairs with append_event's release; only when something new came is the log copied.
  const std::uint64_t last = events.last_seq.load(std::memory_order_acquire);
  // Before a listener is set (the interval start() runs), events wait for it.
  if (last <= last_event_seq_ || !event_listener_) return;
  std::uint64_t expected = last_event_seq_ + 1;
  for (Event& e : read_events(*segment_, last_event_seq_)) {
    e.lost_before = e.seq - expected;
    if (e.lost_before > 0) {
      health_.events_lost.fetch_add(e.lost_before, std::memory_order_relaxed);
      log(LogLevel::error, "events lost: the segment's event log wrapped before the aggregator read them",
          {{"segment", segment_->name()}, {"lost", e.lost_before}, {"before_seq", e.seq}});
    }
    event_listener_(e);
    last_event_seq_ = e.seq;
    expected = e.seq + 1;
  }
}

Policy Aggregator::policy() const {
  std::lock_guard lock(policy_mutex_);
  return base_policy_;
}

void Aggregator::set_policy(Policy policy) {
  std::lock_guard lock(policy_mutex_);
  pending_policy_ = std::move(policy);
}

void Aggregator::apply_pending_policy() {
  std::optional<Policy> next;
  {
    std::lock_guard lock(policy_mutex_);
    if (!pending_policy_) return;
    next.swap(pending_policy_);
    base_policy_ = std::move(*next);
    engine_->set_policy(candidate_policy(judged_candidates_));
    for (auto& e : extra_engines_)
      if (e) e->set_policy(candidate_policy(judged_candidates_));
  }
  if (Status s = engine_->adopt_policy(); !s.ok())
    log(LogLevel::error, "the new policy's ramp and fail-safe could not be written into the config",
        {{"segment", segment_->name()}, {"error", s.message()}});
}

void Aggregator::tick() {
  apply_pending_policy();
  // Rings of writers that died since the last interval: their records count, then the ring is free.
  sync_experiments();
  const ReclaimStats reclaimed = consumer_.reclaim_dead([this](const RingRecord& r) {
    ++drained_;
    if (r.kind != kRecordRequest) return take_experiment_record(r);
    series_[key(r.version, r.endpoint_id)].add(r.latency_us);
    feed_engines(r);
  });
  if (reclaimed.rings > 0) publish_drained_counts();
  if (reclaimed.unanswered > 0)
    log(LogLevel::warn, "writers died with requests in flight: each counted as unavailable (status 0)",
        {{"segment", segment_->name()}, {"requests", std::to_string(reclaimed.unanswered)},
         {"rings", std::to_string(reclaimed.rings)}});

  auto snap = std::make_shared<AggregatorSnapshot>();
  auto config = std::make_shared<ConfigData>();
  const bool have_config = read_config(segment_->config(), *config, capacity_).ok;
  snap->slabs = sum_slabs(*segment_, /*with_histograms=*/true);
  drain_if_due();
  const std::uint64_t now = monotonic_ms();
  const bool new_rollout = have_config && config->rollout_started_unix_ns != rollout_started_unix_ns_;
  if (new_rollout) rollout_started_unix_ns_ = config->rollout_started_unix_ns;

  snap->taken_unix_ns = unix_now_ns();
  snap->monotonic_ms = now;
  snap->interval_ms = options_.interval_ms;
  snap->endpoint_capacity = capacity_;
  if (have_config) snap->config = config;
  for (auto& per_window : snap->endpoints) per_window.resize(series_.size());

  // The decisions first: a rollback reaches the workers before anything else is computed.
  std::vector<WindowCounts> cumulative(static_cast<std::size_t>(kMaxVersions) * capacity_);
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    for (std::uint32_t e = 0; e < capacity_; ++e)
      cumulative[key(v, e)] = WindowCounts::of(snap->slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e)));
  if (have_config) {
    match_engines(*config);
    engine_->tick(now, cumulative, capacity_, *config);
    for (auto& e : extra_engines_)
      if (e) e->tick(now, cumulative, capacity_, *config);
  }
  drain_if_due();
  if (have_config) enforce_experiment_guardrails(*config);
  snap->decision = engine_->status();
  snap->decisions[kFirstCandidate] = snap->decision;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    if (extra_engines_[v]) snap->decisions[v] = extra_engines_[v]->status();
  EntryDraft entry;
  if (journal_) engine_->journal_interval(entry.engine);
  // The interval's latencies, before the series fold them away.
  std::unique_ptr<IntervalData> interval;
  if (interval_listener_) {
    interval = std::make_unique<IntervalData>();
    for (std::uint32_t v = 0; v < kMaxVersions; ++v)
      for (std::uint32_t e = 0; e < capacity_; ++e)
        if (Samples& p = series_[key(v, e)].pending(); !p.empty()) interval->latency[v].merge(p);
  }

  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    Samples version_samples[kWindowCount];
    WindowCounts version_counts[kWindowCount];
    for (std::uint32_t e = 0; e < capacity_; ++e) {
      // A tick takes tens of milliseconds under load; the rings keep draining meanwhile (a record
      // drained here lands in its series before the series moves on, or in the next interval).
      drain_if_due();
      const std::size_t k = key(v, e);
      WindowSeries& s = series_[k];
      const WindowCounts totals = WindowCounts::of(snap->slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e)));
      if (journal_) journal_series(entry, k, totals);
      folded_requests_ += s.pending().sketch.count();
      s.advance(now, totals);
      if (new_rollout) s.start_rollout(now, totals);
      for (Window w : kAllWindows) {
        const auto wi = static_cast<std::size_t>(w);
        const WindowCounts counts = s.counts(w, totals);
        if (counts.requests == 0 && totals.requests == 0) continue;  // never had traffic
        Samples samples = s.samples(w);
        snap->endpoints[wi][k] = describe(counts, samples);
        version_samples[wi].merge(samples);
        version_counts[wi] += counts;
      }
    }
    for (Window w : kAllWindows) {
      const auto wi = static_cast<std::size_t>(w);
      snap->totals[wi][v] = describe(version_counts[wi], version_samples[wi]);
    }
  }

  const RingsHeader& rh = segment_->rings_header();
  snap->no_ring_drops = rh.no_ring_drops.load(std::memory_order_relaxed);
  snap->reaped_records = rh.reaped_records.load(std::memory_order_relaxed);
  snap->crashed_in_flight = rh.crashed_in_flight.load(std::memory_order_relaxed);
  snap->ring_full_drops = rh.retired_full_drops.load(std::memory_order_relaxed);
  snap->latency_clamped = rh.latency_clamped.load(std::memory_order_relaxed);
  snap->lost_records = lost_records_;
  for (const RingInfo& r : inspect_rings(*segment_)) snap->ring_full_drops += r.drops;
  snap->drained_records = drained_;
  snap->invalid_records = invalid_;
  snap->last_drain_unix_ns = segment_->aggregator().last_drain_unix_ns.load(std::memory_order_relaxed);
  {
    sync_experiments();
    auto results = std::make_shared<ExperimentResultsData>();
    std::uint64_t drops[kMaxExperiments];
    experiment::drops_from(*segment_, drops);
    experiments_.fill(*results, drops);
    results->generated_unix_ns = snap->taken_unix_ns;
    experiment::publish_results(*segment_, *results);
    snap->experiments = std::move(results);
  }
  watch_memory(*snap);
  deliver_events();
  constexpr std::size_t kShownEvents = 20;
  snap->recent_events = read_events(*segment_);
  if (snap->recent_events.size() > kShownEvents)
    snap->recent_events.erase(snap->recent_events.begin(), snap->recent_events.end() - kShownEvents);

  drain_if_due();
  publish(*snap);
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = std::move(snap);
  }
  if (journal_) {
    std::uint64_t experiment_records[kMaxExperiments];
    const std::string bytes = finish_entry(entry, now, experiment_records);
    append_journal(bytes, entry.requests, experiment_records);
  }
  if (interval) {
    const std::shared_ptr<const AggregatorSnapshot> published = snapshot();
    interval->slabs = &published->slabs;
    interval->endpoint_capacity = capacity_;
    interval->config_generation = published->config ? published->config->generation : 0;
    interval->unix_ns = published->taken_unix_ns;
    interval_listener_(*interval);
  }
  if (!options_.state_dir.empty() && now - last_checkpoint_ms_ >= std::uint64_t{options_.checkpoint_s} * 1000) {
    last_checkpoint_ms_ = now;
    checkpoint_or_complain();
  }
}

Policy Aggregator::candidate_policy(std::size_t candidates) const {
  return canary::candidate_policy(base_policy_, candidates);
}

void Aggregator::match_engines(const ConfigData& config) {
  const std::vector<std::uint32_t> candidates = active_candidates(config);
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    // The first slot's engine is engine_, always there (it judges nothing while that slot is not a
    // candidate); every other active candidate gets one of its own.
    const bool active = v != kFirstCandidate && std::find(candidates.begin(), candidates.end(), v) != candidates.end();
    if (!active) extra_engines_[v].reset();
    else if (!extra_engines_[v])
      extra_engines_[v] = std::make_unique<DecisionEngine>(*segment_, candidate_policy(candidates.size()), options_.interval_ms, v);
  }
  list_extra_engines();
  if (candidates.size() != judged_candidates_ && !candidates.empty()) {
    judged_candidates_ = candidates.size();
    std::lock_guard lock(policy_mutex_);
    engine_->set_policy(candidate_policy(judged_candidates_));
    for (auto& e : extra_engines_)
      if (e) e->set_policy(candidate_policy(judged_candidates_));
  }
}

void Aggregator::list_extra_engines() {
  extra_list_.clear();
  for (auto& e : extra_engines_)
    if (e) extra_list_.push_back(e.get());
}

void Aggregator::checkpoint_or_complain() {
  // A failed checkpoint costs digests on a restart, never counts: the next interval tries again.
  if (Status s = save_checkpoint(); !s.ok()) {
    health_.checkpoint.record(s.message());
    log(LogLevel::error, "checkpoint failed", {{"segment", segment_->name()}, {"error", s.message()}});
    return;
  }
  health_.last_checkpoint_unix_ns.store(unix_now_ns(), std::memory_order_relaxed);
  if (Status s = save_experiments(); !s.ok()) {
    // The journal keeps the experiment records the state file does not have: not emptied.
    health_.checkpoint.record(s.message());
    log(LogLevel::error, "experiment state not saved", {{"segment", segment_->name()}, {"error", s.message()}});
    return;
  }
  // Everything journaled so far is in the checkpoint and the experiment state now.
  if (journal_) {
    if (Status s = journal_->reset(); !s.ok()) {
      health_.journal.record(s.message());
      log(LogLevel::error, "journal not emptied after a checkpoint", {{"segment", segment_->name()}, {"error", s.message()}});
    }
  }
}

void Aggregator::watch_memory(AggregatorSnapshot& snap) {
  MemoryParts parts;
  parts.windows = series_.capacity() * sizeof(WindowSeries);
  for (const WindowSeries& s : series_) parts.windows += s.heap_bytes();
  parts.decisions = engine_->heap_bytes();
  for (const DecisionEngine* e : extra_list_) parts.decisions += e->heap_bytes();
  parts.experiments = experiments_.heap_bytes();
  if (http_memory_) parts.http = http_memory_();
  if (const std::optional<Coarsening> step = memory_.check(parts)) {
    for (WindowSeries& s : series_) s.coarsen(step->level);
    const std::uint64_t bucket_s = WindowSeries::bucket_ms(step->level) * step->factor / 1000;
    log(LogLevel::warn, "memory limit reached: a long window keeps coarser buckets (counts stay exact)",
        {{"segment", segment_->name()}, {"window", to_string(static_cast<Window>(step->level))},
         {"bucket_s", bucket_s}, {"estimate_bytes", parts.total()}, {"limit_bytes", memory_.limit()}});
    malloc_trim(0);  // what the merged buckets gave back, to the system
  } else if (memory_.exhausted() && !warned_memory_exhausted_) {
    warned_memory_exhausted_ = true;
    log(LogLevel::error, "memory limit reached and the windows cannot coarsen further: running over the limit",
        {{"segment", segment_->name()}, {"estimate_bytes", parts.total()}, {"limit_bytes", memory_.limit()},
         {"windows_bytes", parts.windows}, {"decisions_bytes", parts.decisions},
         {"experiments_bytes", parts.experiments}, {"http_bytes", parts.http}});
  }
  snap.memory = memory_;
}

void Aggregator::publish(const AggregatorSnapshot& s) {
  auto summary = std::make_unique<SummaryData>();
  summary->generated_unix_ns = s.taken_unix_ns;
  summary->config_generation = s.config ? s.config->generation : 0;
  summary->rollout_started_unix_ns = rollout_started_unix_ns_;
  summary->interval_ms = s.interval_ms;
  summary->endpoint_count = s.config ? s.config->endpoint_count : 0;
  summary->fleet_state = fleet_state_.load(std::memory_order_relaxed);
  if (s.decision && s.decision->judged) {
    summary->judged_unix_ns = s.decision->judged_unix_ns;
    summary->gate_holds = s.decision->judgement.gate_holds ? 1 : 0;
    summary->rollback_proven = s.decision->judgement.rollback ? 1 : 0;
  }
  for (std::uint32_t v = kFirstCandidate; v < kMaxVersions; ++v)
    if (s.decisions[v] && s.decisions[v]->judged && s.decisions[v]->judgement.gate_holds)
      summary->gate_holds_by_version |= static_cast<std::uint8_t>(1u << v);
  for (Window w : kAllWindows)
    for (std::uint32_t v = 0; v < kMaxVersions; ++v)
      summary->totals[static_cast<std::size_t>(w)][v] = summary_of(s.total(w, static_cast<Version>(v)));
  for (std::uint32_t e = 0; e < summary->endpoint_count && e < capacity_; ++e)
    for (std::uint32_t v = 0; v < kMaxVersions; ++v)
      summary->endpoints[e][v] = summary_of(s.endpoint(Window::all, static_cast<Version>(v), static_cast<EndpointId>(e)));
  publish_summary(*segment_, *summary);
}

std::shared_ptr<const AggregatorSnapshot> Aggregator::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

Status Aggregator::run(const std::atomic<bool>& stop) {
  std::atomic<bool> clock_stop{false};
  // The coarse clock must move at least every millisecond: records are stamped with it.
  std::thread clock([&] {
    while (!stop.load(std::memory_order_relaxed) && !clock_stop.load(std::memory_order_relaxed)) {
      publish_clock();
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  const auto drain_period = std::chrono::milliseconds(std::max<std::uint32_t>(1, options_.drain_ms));
  const auto interval = std::chrono::milliseconds(options_.interval_ms);
  auto next_tick = std::chrono::steady_clock::now() + interval;
  while (!stop.load(std::memory_order_relaxed)) {
    drain();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      tick();
      next_tick += interval;
      if (next_tick < now) next_tick = now + interval;  // fell behind: do not tick in a burst
      if (Status s = segment_->check_still_named(); !s.ok()) {
        clock_stop.store(true, std::memory_order_relaxed);
        clock.join();
        return s;
      }
    }
    std::this_thread::sleep_for(drain_period);
  }
  clock.join();
  drain();
  tick();
  if (!options_.state_dir.empty()) checkpoint_or_complain();
  return Status::Ok();
}

}  // namespace canary
