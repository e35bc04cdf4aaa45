// SPDX-License-Identifier: Apache-2.0
// The aggregator's checkpoint: its window series (digests and bucket counts) and the rollout
// they belong to, tied to one segment by its creation time and creator pid, with a checksum over
// everything. Counts never depend on it: they are in the slabs.
#include <cstring>
#include <string_view>

#include "canary/aggregator.hpp"
#include "canary/atomic_file.hpp"
#include "canary/detail/xxhash.hpp"
#include "canary/log.hpp"
#include "canary/segment.hpp"

namespace canary {

namespace {

constexpr std::string_view kMagic = "CANARYCK";
// 5: the decision engine's digests held by sketches; 4: the journal's sequence; 3: latency
// sketches beside the digests
constexpr std::uint64_t kFormat = 7;  // 7: a baseline and up to 7 candidates, an engine each

// The experiments' per-user state, in a file of its own: it can be tens of megabytes, so it is
// written only when something was counted since the last write.
constexpr std::string_view kExperimentsMagic = "CANARYEX";
constexpr std::uint64_t kExperimentsFormat = 1;

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
  experiments_.save(out);
  end_frame(out);
  if (Status s = write_file_atomically(experiments_path(), out.out()); !s.ok()) return s;
  experiments_.mark_saved();
  return Status::Ok();
}

Status Aggregator::load_experiments() {
  const std::string path = experiments_path();
  auto file = read_whole_file(path);
  if (!file) return {file.status().code(), file.status().code() == Errc::missing ? "no experiment state at " + path : file.status().message()};
  std::string_view body;
  if (const char* why = frame_problem(*file, kExperimentsMagic, kExperimentsFormat, segment_->header(), body))
    return {Errc::corrupt, "experiment state " + path + " ignored: " + why};
  ByteReader in(body);
  if (Status s = experiments_.load(in); !s.ok()) return {s.code(), path + ": " + s.message()};
  return Status::Ok();
}

std::string Aggregator::checkpoint_path() const { return options_.state_dir + "/" + segment_->name() + ".checkpoint"; }

Status Aggregator::save_checkpoint() {
  ByteWriter out;
  begin_frame(out, kMagic, kFormat, segment_->header());
  out.u64(capacity_);
  out.u64(rollout_started_unix_ns_);
  out.u64(series_.size());
  for (WindowSeries& s : series_) s.serialize(out);
  out.u64(last_event_seq_);
  out.u64(journal_seq_);
  engine_->serialize(out);
  out.u64(extra_list_.size());
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    if (extra_engines_[v]) {
      out.u64(v);
      extra_engines_[v]->serialize(out);
    }
  end_frame(out);
  return write_file_atomically(checkpoint_path(), out.out());
}

Status Aggregator::load_checkpoint() {
  const std::string path = checkpoint_path();
  auto file = read_whole_file(path);
  if (!file) return {file.status().code(), file.status().code() == Errc::missing ? "no checkpoint at " + path : file.status().message()};
  auto refuse = [&](const char* why) { return Status{Errc::corrupt, "checkpoint " + path + " ignored: " + why}; };
  std::string_view body;
  if (const char* why = frame_problem(*file, kMagic, kFormat, segment_->header(), body)) return refuse(why);
  ByteReader in(body);
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
  if (!in.u64(event_seq) || !in.u64(journal_seq) || !engine_->deserialize(in)) return refuse("malformed decision state");
  std::uint64_t extra = 0;
  if (!in.u64(extra) || extra > kMaxVersions) return refuse("malformed decision state");
  std::unique_ptr<DecisionEngine> engines[kMaxVersions];
  for (std::uint64_t i = 0; i < extra; ++i) {
    std::uint64_t v = 0;
    if (!in.u64(v) || v == kFirstCandidate || v >= kMaxVersions || engines[v]) return refuse("malformed decision state");
    engines[v] = std::make_unique<DecisionEngine>(*segment_, base_policy_, options_.interval_ms, static_cast<std::uint32_t>(v));
    if (!engines[v]->deserialize(in)) return refuse("malformed decision state");
  }
  if (!in.at_end()) return refuse("trailing bytes");
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) extra_engines_[v] = std::move(engines[v]);
  list_extra_engines();
  judged_candidates_ = 0;  // the next interval gives every engine its share of alpha
  series_ = std::move(series);
  last_event_seq_ = event_seq;
  journal_seq_ = journal_seq;
  rollout_started_unix_ns_ = rollout;
  return Status::Ok();
}

// A journal entry: the segment it belongs to, its sequence, the interval's time and rollout, then
// per series with traffic its cumulative counts and the samples of the interval, then the
// decision engine's.
std::string Aggregator::journal_entry(std::uint64_t now_ms, const SlabTotals& slabs) {
  const SegmentHeader& h = segment_->header();
  ByteWriter out;
  out.u64(h.created_unix_ns);
  out.u64(h.creator_pid);
  out.u64(journal_seq_ + 1);
  out.u64(now_ms);
  out.u64(rollout_started_unix_ns_);
  std::vector<std::uint32_t> active;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    for (std::uint32_t e = 0; e < capacity_; ++e)
      if (slabs.at(static_cast<Version>(v), static_cast<EndpointId>(e)).total() > 0 ||
          !series_[key(v, e)].pending().empty())
        active.push_back(static_cast<std::uint32_t>(key(v, e)));
  out.u64(active.size());
  for (std::uint32_t k : active) {
    out.u64(k);
    const WindowCounts c = WindowCounts::of(slabs.cells[k]);
    for (std::uint64_t x : {c.requests, c.errors, c.client_errors, c.unavailable, c.latency_sum_us}) out.u64(x);
    series_[k].pending().serialize(out);
  }
  engine_->journal_interval(out);
  return std::move(out.out());
}

void Aggregator::append_journal(const std::string& entry) {
  if (Status s = journal_->append(entry); !s.ok()) {
    // This interval's samples are kept in memory and in the next checkpoint; only a crash before
    // that would lose them.
    health_.journal.record(s.message());
    log(LogLevel::error, "journal entry not written", {{"segment", segment_->name()}, {"error", s.message()}});
    return;
  }
  ++journal_seq_;
}

std::size_t Aggregator::replay_journal() {
  const SegmentHeader& h = segment_->header();
  std::size_t replayed = 0;
  for (const std::string& bytes : IntervalJournal::read(journal_->path())) {
    ByteReader in(bytes);
    std::uint64_t created = 0, pid = 0, seq = 0, now_ms = 0, rollout = 0, count = 0;
    if (!in.u64(created) || !in.u64(pid) || !in.u64(seq) || !in.u64(now_ms) || !in.u64(rollout) || !in.u64(count))
      break;
    if (created != h.created_unix_ns || pid != h.creator_pid) break;  // another segment's journal
    if (seq <= journal_seq_) continue;                                 // in the checkpoint already
    bool ok = true;
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
    rollout_started_unix_ns_ = rollout;
    journal_seq_ = seq;
    ++replayed;
  }
  return replayed;
}

}  // namespace canary
