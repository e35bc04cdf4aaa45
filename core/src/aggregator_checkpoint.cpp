// SPDX-License-Identifier: Apache-2.0
// The aggregator's state files: the checkpoint (its window series' digests and bucket counts, the
// rollout they belong to, the decision engines), the experiments' per-user state, and the journal
// of the intervals since, each tied to one segment by its creation time and creator pid, with a
// checksum. Counts never depend on them: they are in the slabs. Each also says which run wrote it
// and how many of that run's drained records it holds, so that a successor can count what a
// killed run drained and never kept (count_lost_with_predecessor).
#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>

#include "canary/aggregator.hpp"
#include "canary/atomic_file.hpp"
#include "canary/clock.hpp"
#include "canary/detail/xxhash.hpp"
#include "canary/log.hpp"
#include "canary/segment.hpp"

namespace canary {

namespace {

constexpr std::string_view kMagic = "CANARYCK";
// 11: the stretches' slices of time (bursts); 10: the step's users (the comparisons' buckets); 9:
// the decision engine's times as ages (a reboot restarts the monotonic clock); 8: the run and its
// persisted and lost counts; 7: a baseline and up to 7 candidates, an engine each; 5: the decision
// engine's digests held by sketches; 4: the journal's sequence; 3: latency sketches beside the
// digests
constexpr std::uint64_t kFormat = 11;

// The experiments' per-user state, in a file of its own: it can be tens of megabytes, so it is
// written only when something was counted since the last write. 2: the run, its persisted counts
// and the journal entry it covers.
constexpr std::string_view kExperimentsMagic = "CANARYEX";
constexpr std::uint64_t kExperimentsFormat = 2;

// A journal entry starts with the segment's identity, then this.
constexpr std::uint64_t kJournalFormat = 2;

// Both files share one frame: magic, format, the segment they belong to (its creation time and
// creator pid), the body, then an XXH3 of everything before it.
void begin_frame(ByteWriter& out, std::string_view magic, std::uint64_t format, const SegmentHeader& h) {
  out.out().append(magic);
  out.u64(format);
  out.u64(h.created_unix_ns);
  out.u64(h.creator_pid);
}

void end_frame(ByteWriter& out) { out.u64(XXH3_64bits(out.out().data(), out.out().size())); }

// Why the frame is refused, or nullptr with `body` set to what lies between header and checksum.
const char* frame_problem(std::string_view bytes, std::string_view magic, std::uint64_t format, const SegmentHeader& h,
                          std::string_view& body) {
  constexpr std::size_t kWords = 3 * 8, kSum = 8;
  if (bytes.size() < magic.size() + kWords + kSum || bytes.substr(0, magic.size()) != magic) return "not a state file of this kind";
  std::uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - kSum, kSum);
  if (stored_sum != XXH3_64bits(bytes.data(), bytes.size() - kSum)) return "checksum mismatch";
  std::uint64_t words[3];
  std::memcpy(words, bytes.data() + magic.size(), kWords);
  if (words[0] != format) return "another format";
  if (words[1] != h.created_unix_ns || words[2] != h.creator_pid) return "written for another segment";
  body = bytes.substr(magic.size() + kWords, bytes.size() - magic.size() - kWords - kSum);
  return nullptr;
}

}  // namespace

std::string Aggregator::experiments_path() const { return options_.state_dir + "/" + segment_->name() + ".experiments"; }

Status Aggregator::save_experiments() {
  if (!experiments_.changed()) return Status::Ok();
  ByteWriter out;
  begin_frame(out, kExperimentsMagic, kExperimentsFormat, segment_->header());
  out.u64(run_id_);
  out.u64(journal_seq_);
  for (std::uint64_t n : drained_experiment_) out.u64(n);
  experiments_.save(out);
  end_frame(out);
  if (Status s = write_file_atomically(experiments_path(), out.out()); !s.ok()) return s;
  experiments_.mark_saved();
  // Every record drained so far is in the file: none waits for the journal.
  std::copy(std::begin(drained_experiment_), std::end(drained_experiment_), std::begin(experiments_persisted_));
  unjournaled_.clear();
  experiments_journal_seq_ = journal_seq_;
  return Status::Ok();
}

Status Aggregator::load_experiments(Persisted& seen) {
  const std::string path = experiments_path();
  auto file = read_whole_file(path);
  if (!file) return {file.status().code(), file.status().code() == Errc::missing ? "no experiment state at " + path : file.status().message()};
  std::string_view body;
  if (const char* why = frame_problem(*file, kExperimentsMagic, kExperimentsFormat, segment_->header(), body))
    return {Errc::corrupt, "experiment state " + path + " ignored: " + why};
  ByteReader in(body);
  Persisted kept;
  std::uint64_t covers = 0;
  bool ok = in.u64(kept.run_id) && in.u64(covers);
  for (std::uint64_t& n : kept.experiment) ok = ok && in.u64(n);
  if (!ok) return {Errc::corrupt, "experiment state " + path + " ignored: truncated"};
  if (Status s = experiments_.load(in); !s.ok()) return {s.code(), path + ": " + s.message()};
  seen = kept;
  experiments_journal_seq_ = covers;
  return Status::Ok();
}

std::string Aggregator::checkpoint_path() const { return options_.state_dir + "/" + segment_->name() + ".checkpoint"; }

Status Aggregator::save_checkpoint() {
  fold_pending();
  ByteWriter out;
  begin_frame(out, kMagic, kFormat, segment_->header());
  out.u64(run_id_);
  out.u64(folded_requests_);
  out.u64(lost_records_);
  out.u64(capacity_);
  out.u64(rollout_started_unix_ns_);
  out.u64(series_.size());
  for (WindowSeries& s : series_) s.serialize(out);
  out.u64(last_event_seq_);
  out.u64(journal_seq_);
  engine_->serialize(out, monotonic_ms());
  out.u64(extra_list_.size());
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    if (extra_engines_[v]) {
      out.u64(v);
      extra_engines_[v]->serialize(out, monotonic_ms());
    }
  end_frame(out);
  if (Status s = write_file_atomically(checkpoint_path(), out.out()); !s.ok()) return s;
  requests_persisted_ = folded_requests_;
  return Status::Ok();
}

void Aggregator::fold_pending() {
  for (WindowSeries& s : series_) {
    folded_requests_ += s.pending().sketch.count();
    s.fold_pending();
  }
}

Status Aggregator::load_checkpoint(Persisted& seen) {
  const std::string path = checkpoint_path();
  auto file = read_whole_file(path);
  if (!file) return {file.status().code(), file.status().code() == Errc::missing ? "no checkpoint at " + path : file.status().message()};
  auto refuse = [&](const char* why) { return Status{Errc::corrupt, "checkpoint " + path + " ignored: " + why}; };
  std::string_view body;
  if (const char* why = frame_problem(*file, kMagic, kFormat, segment_->header(), body)) return refuse(why);
  ByteReader in(body);
  Persisted kept;
  std::uint64_t lost = 0;
  if (!in.u64(kept.run_id) || !in.u64(kept.requests) || !in.u64(lost)) return refuse("truncated");
  std::uint64_t capacity = 0, rollout = 0, count = 0;
  if (!in.u64(capacity) || capacity != capacity_ || !in.u64(rollout) || !in.u64(count) ||
      count != std::uint64_t{kMaxVersions} * capacity_)
    return refuse("sizes do not match the segment");
  std::vector<WindowSeries> series;
  series.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    auto s = WindowSeries::deserialize(in);
    if (!s) return refuse("malformed series");
    series.push_back(std::move(*s));
  }
  std::uint64_t event_seq = 0, journal_seq = 0;
  if (!in.u64(event_seq) || !in.u64(journal_seq) || !engine_->deserialize(in, monotonic_ms())) return refuse("malformed decision state");
  std::uint64_t extra = 0;
  if (!in.u64(extra) || extra > kMaxVersions) return refuse("malformed decision state");
  std::unique_ptr<DecisionEngine> engines[kMaxVersions];
  for (std::uint64_t i = 0; i < extra; ++i) {
    std::uint64_t v = 0;
    if (!in.u64(v) || v == kFirstCandidate || v >= kMaxVersions || engines[v]) return refuse("malformed decision state");
    engines[v] = std::make_unique<DecisionEngine>(*segment_, base_policy_, options_.interval_ms, static_cast<std::uint32_t>(v));
    if (!engines[v]->deserialize(in, monotonic_ms())) return refuse("malformed decision state");
  }
  if (!in.at_end()) return refuse("trailing bytes");
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) extra_engines_[v] = std::move(engines[v]);
  list_extra_engines();
  judged_candidates_ = 0;  // the next interval gives every engine its share of alpha
  series_ = std::move(series);
  last_event_seq_ = event_seq;
  journal_seq_ = journal_seq;
  rollout_started_unix_ns_ = rollout;
  lost_records_ = std::max(lost_records_, lost);  // the segment's count may be newer
  seen = kept;
  return Status::Ok();
}

// A journal entry: the segment it belongs to, the format, its sequence, the interval's time and
// rollout, the run and what it has persisted with this entry (latency samples, experiment records
// per slot); then the experiment records drained since the last entry; then per series with
// traffic its cumulative counts and the samples it folded; then the decision engine's.
void Aggregator::journal_series(EntryDraft& draft, std::size_t k, const WindowCounts& totals) {
  Samples& pending = series_[k].pending();
  if (totals.requests == 0 && pending.empty()) return;
  ByteWriter& out = draft.series;
  out.u64(k);
  for (std::uint64_t x : {totals.requests, totals.errors, totals.client_errors, totals.unavailable, totals.latency_sum_us}) out.u64(x);
  pending.serialize(out);
  ++draft.series_count;
  draft.requests += pending.sketch.count();
}

std::string Aggregator::finish_entry(EntryDraft& draft, std::uint64_t now_ms, std::uint64_t experiment_records[kMaxExperiments]) {
  const SegmentHeader& h = segment_->header();
  std::fill(experiment_records, experiment_records + kMaxExperiments, 0);
  for (const RingRecord& r : unjournaled_) ++experiment_records[record_experiment(r)];
  ByteWriter out;
  out.u64(h.created_unix_ns);
  out.u64(h.creator_pid);
  out.u64(kJournalFormat);
  out.u64(journal_seq_ + 1);
  out.u64(now_ms);
  out.u64(rollout_started_unix_ns_);
  out.u64(run_id_);
  out.u64(requests_persisted_ + draft.requests);
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) out.u64(experiments_persisted_[x] + experiment_records[x]);
  out.u64(unjournaled_.size());
  for (const RingRecord& r : unjournaled_) {
    out.u64(r.user_hash);
    out.u64(std::uint64_t{r.kind} | std::uint64_t{record_experiment(r)} << 8 | std::uint64_t{record_arm(r)} << 16 |
            std::uint64_t{record_metric(r)} << 24);
    out.f64(record_value(r));
  }
  unjournaled_.clear();
  out.u64(draft.series_count);
  out.out().append(draft.series.out());
  out.out().append(draft.engine.out());
  return std::move(out.out());
}

void Aggregator::append_journal(const std::string& entry, std::uint64_t requests,
                                const std::uint64_t (&experiment_records)[kMaxExperiments]) {
  if (Status s = journal_->append(entry); !s.ok()) {
    // This interval's samples are kept in memory and in the next checkpoint; only a crash before
    // that would lose them (and a successor would count them lost).
    health_.journal.record(s.message());
    log(LogLevel::error, "journal entry not written", {{"segment", segment_->name()}, {"error", s.message()}});
    return;
  }
  ++journal_seq_;
  requests_persisted_ += requests;
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) experiments_persisted_[x] += experiment_records[x];
}

namespace {

// One experiment record of a journal entry, as the ring carried it.
bool read_experiment_record(ByteReader& in, RingRecord& r) {
  std::uint64_t packed = 0;
  double value = 0;
  if (!in.u64(r.user_hash) || !in.u64(packed) || !in.f64(value)) return false;
  r.kind = static_cast<std::uint8_t>(packed & 0xFF);
  r.version = static_cast<std::uint8_t>(packed >> 8 & 0xFF);
  r.method = static_cast<std::uint8_t>(packed >> 16 & 0xFF);
  r.endpoint_id = static_cast<std::uint16_t>(packed >> 24 & 0xFF);
  r.coarse_ms = std::bit_cast<std::uint64_t>(value);
  return packed >> 32 == 0 && r.kind != kRecordRequest && valid_record(r, kMaxEndpoints);
}

}  // namespace

std::size_t Aggregator::replay_journal(Persisted& requests_seen, Persisted& experiments_seen) {
  const SegmentHeader& h = segment_->header();
  std::size_t replayed = 0;
  for (const std::string& bytes : IntervalJournal::read(journal_->path())) {
    ByteReader in(bytes);
    std::uint64_t created = 0, pid = 0, format = 0, seq = 0, now_ms = 0, rollout = 0, records = 0, count = 0;
    Persisted entry;
    if (!in.u64(created) || !in.u64(pid) || !in.u64(format)) break;
    if (created != h.created_unix_ns || pid != h.creator_pid) break;  // another segment's journal
    if (format != kJournalFormat) {
      log(LogLevel::error, "journal entry of another format; replay stops there", {{"segment", segment_->name()}});
      break;
    }
    bool ok = in.u64(seq) && in.u64(now_ms) && in.u64(rollout) && in.u64(entry.run_id) && in.u64(entry.requests);
    for (std::uint64_t& n : entry.experiment) ok = ok && in.u64(n);
    ok = ok && in.u64(records);
    // The experiment records, unless the experiment state holds them already.
    for (std::uint64_t i = 0; i < records && ok; ++i) {
      RingRecord r{};
      ok = read_experiment_record(in, r);
      if (ok && seq > experiments_journal_seq_) experiments_.add(r);
    }
    if (ok && seq > experiments_journal_seq_) {
      experiments_seen.run_id = entry.run_id;
      std::copy(std::begin(entry.experiment), std::end(entry.experiment), std::begin(experiments_seen.experiment));
    }
    if (ok && seq <= journal_seq_) continue;  // the series and engine parts are in the checkpoint already
    ok = ok && in.u64(count);
    for (std::uint64_t i = 0; i < count && ok; ++i) {
      std::uint64_t k = 0;
      WindowCounts c;
      Samples samples;
      ok = in.u64(k) && k < series_.size() && in.u64(c.requests) && in.u64(c.errors) && in.u64(c.client_errors) &&
           in.u64(c.unavailable) && in.u64(c.latency_sum_us) && samples.deserialize(in);
      if (!ok) break;
      WindowSeries& s = series_[k];
      s.pending().merge(samples);
      s.advance(now_ms, c);
      if (rollout != rollout_started_unix_ns_) s.start_rollout(now_ms, c);
    }
    if (!ok || !engine_->replay_interval(in)) {
      log(LogLevel::error, "journal entry malformed; replay stops there", {{"segment", segment_->name()}, {"seq", seq}});
      break;
    }
    requests_seen.run_id = entry.run_id;
    requests_seen.requests = entry.requests;
    rollout_started_unix_ns_ = rollout;
    journal_seq_ = seq;
    ++replayed;
  }
  return replayed;
}

void Aggregator::count_lost_with_predecessor(const Persisted& drained, const Persisted& requests_seen,
                                             const Persisted& experiments_seen) {
  if (drained.run_id == 0 || drained.run_id == run_id_) return;  // no aggregator ran before
  // What the predecessor kept counts only if it wrote it: the files may be an earlier run's.
  const auto lost = [](std::uint64_t drained_n, bool same_run, std::uint64_t kept) {
    return drained_n - std::min(drained_n, same_run ? kept : 0);
  };
  const std::uint64_t samples = lost(drained.requests, requests_seen.run_id == drained.run_id, requests_seen.requests);
  std::uint64_t records = 0;
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    const std::uint64_t n = lost(drained.experiment[x], experiments_seen.run_id == drained.run_id, experiments_seen.experiment[x]);
    experiments_.count_lost(x, n);
    records += n;
  }
  if (samples + records == 0) return;
  lost_records_ += samples + records;
  log(LogLevel::warn, "the previous aggregator stopped with records it had drained and not yet kept: they are lost",
      {{"segment", segment_->name()}, {"latency_samples", samples}, {"experiment_records", records},
       {"lost_records_total", lost_records_}});
}

}  // namespace canary
