// SPDX-License-Identifier: Apache-2.0
#include "canary/window_series.hpp"

#include <array>

namespace canary {

namespace {

struct LevelShape {
  std::uint64_t bucket_ms;
  std::uint32_t slots;  // buckets that make the window, the current one included
};
// 5 minutes of 10 s, 1 hour of 1 min, 6 hours of 5 min, 24 hours of 15 min.
constexpr std::array<LevelShape, 4> kShapes = {{{10'000, 30}, {60'000, 60}, {300'000, 72}, {900'000, 96}}};

constexpr std::array<std::string_view, kWindowCount> kNames = {"5m", "1h", "6h", "24h", "all"};

std::uint64_t bucket_end(std::uint32_t level, std::uint64_t start_ms) {
  const std::uint64_t ms = kShapes[level].bucket_ms;
  return start_ms - start_ms % ms + ms;
}

std::uint64_t saturating_minus(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

void write_counts(ByteWriter& out, const WindowCounts& c) {
  out.u64(c.requests);
  out.u64(c.errors);
  out.u64(c.client_errors);
  out.u64(c.unavailable);
  out.u64(c.latency_sum_us);
}

bool read_counts(ByteReader& in, WindowCounts& c) {
  return in.u64(c.requests) && in.u64(c.errors) && in.u64(c.client_errors) && in.u64(c.unavailable) &&
         in.u64(c.latency_sum_us);
}

constexpr std::uint64_t kMaxDigestBytes = 1 << 20;

}  // namespace

void Samples::serialize(ByteWriter& out) {
  out.bytes(digest.serialize());
  out.bytes(sketch.serialize());
}

bool Samples::deserialize(ByteReader& in) {
  std::string_view digest_bytes, sketch_bytes;
  if (!in.bytes(digest_bytes, kMaxDigestBytes) || !in.bytes(sketch_bytes, kMaxDigestBytes)) return false;
  auto d = TDigest::deserialize(digest_bytes);
  auto k = LatencySketch::deserialize(sketch_bytes);
  if (!d || !k) return false;
  digest = std::move(*d);
  sketch = std::move(*k);
  return true;
}

std::string_view to_string(Window w) { return kNames[static_cast<std::size_t>(w)]; }

std::optional<Window> parse_window(std::string_view text) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (text == kNames[i]) return static_cast<Window>(i);
  return std::nullopt;
}

WindowCounts WindowCounts::of(const Counts& c) {
  return {c.total(), c.errors(), c.client_errors(), c.unavailable(), c.latency_sum_us};
}

WindowCounts WindowCounts::since(const WindowCounts& earlier) const {
  return {saturating_minus(requests, earlier.requests), saturating_minus(errors, earlier.errors),
          saturating_minus(client_errors, earlier.client_errors), saturating_minus(unavailable, earlier.unavailable),
          saturating_minus(latency_sum_us, earlier.latency_sum_us)};
}

WindowCounts& WindowCounts::operator+=(const WindowCounts& o) {
  requests += o.requests;
  errors += o.errors;
  client_errors += o.client_errors;
  unavailable += o.unavailable;
  latency_sum_us += o.latency_sum_us;
  return *this;
}

WindowSeries::WindowSeries(std::uint64_t now_ms, const WindowCounts& totals_now) : all_baseline_() {
  for (Level& level : levels_) level.current = Bucket{now_ms, totals_now, Samples()};
}

void WindowSeries::close_current(std::uint32_t level, std::uint64_t now_ms, const WindowCounts& totals_now) {
  Level& l = levels_[level];
  Bucket done = std::move(l.current);
  if (level + 1 < kLevels) levels_[level + 1].current.samples.merge(done.samples);
  if (level == 0) all_.merge(done.samples);
  if (!l.closed.empty() && l.closed.back().spans < l.merge_factor) {
    // A coarsened level: the bucket joins the last closed one until that holds merge_factor.
    Bucket& last = l.closed.back();
    last.samples.merge(done.samples);
    last.samples.shrink();
    ++last.spans;
  } else {
    done.samples.shrink();
    l.closed.push_back(std::move(done));
  }
  l.current = Bucket{now_ms, totals_now, Samples()};
  // Keep the buckets that, with the current one, make up the window.
  const LevelShape& shape = kShapes[level];
  const std::uint64_t span = shape.bucket_ms * (shape.slots - 1);
  const std::uint64_t oldest = now_ms - now_ms % shape.bucket_ms;
  while (!l.closed.empty() &&
         (l.closed.size() > shape.slots - 1 || l.closed.front().start_ms + span < oldest))
    l.closed.pop_front();
  l.closed_merged_valid = false;
}

void WindowSeries::fold_pending() {
  if (pending_.empty()) return;
  levels_[0].current.samples.merge(pending_);
  pending_.clear();  // keeps the dense sketch's memory for the next interval
}

void WindowSeries::advance(std::uint64_t now_ms, const WindowCounts& totals_now) {
  fold_pending();
  // Lower levels first: a closing 10 s bucket lands in the minute that may close right after.
  for (std::uint32_t level = 0; level < kLevels; ++level)
    if (now_ms >= bucket_end(level, levels_[level].current.start_ms)) close_current(level, now_ms, totals_now);
  // What is merged into once an interval keeps no sort buffers between intervals.
  for (Level& l : levels_) l.current.samples.release_buffers();
  all_.release_buffers();
}

bool WindowSeries::coarsen(std::uint32_t level) {
  if (level == 0 || level >= kLevels) return false;
  Level& l = levels_[level];
  if (l.merge_factor >= kMaxCoarsening) return false;
  l.merge_factor *= 2;
  std::deque<Bucket> merged;
  for (Bucket& b : l.closed) {
    if (!merged.empty() && merged.back().spans + b.spans <= l.merge_factor) {
      Bucket& into = merged.back();
      into.samples.merge(b.samples);
      into.samples.shrink();
      into.spans += b.spans;
    } else {
      merged.push_back(std::move(b));
    }
  }
  l.closed = std::move(merged);
  l.closed_merged_valid = false;
  return true;
}

std::uint64_t WindowSeries::bucket_ms(std::uint32_t level) { return kShapes[level].bucket_ms; }

std::size_t WindowSeries::heap_bytes() const {
  // libstdc++'s deque holds a bucket this size per node of its own, beside a map of node pointers.
  constexpr std::size_t kNodeBytes = sizeof(Bucket) + sizeof(void*);
  std::size_t n = all_.heap_bytes() + pending_.heap_bytes();
  for (const Level& l : levels_) {
    n += l.current.samples.heap_bytes() + l.closed_merged.heap_bytes();
    for (const Bucket& b : l.closed) n += b.samples.heap_bytes() + kNodeBytes;
  }
  return n;
}

void WindowSeries::start_rollout(std::uint64_t now_ms, const WindowCounts& totals_now) {
  close_current(0, now_ms, totals_now);  // what came before the rollout stays out of `all`
  all_.clear();
  all_baseline_ = totals_now;
}

const Samples& WindowSeries::closed_merged(std::uint32_t level) {
  Level& l = levels_[level];
  if (!l.closed_merged_valid) {
    l.closed_merged.clear();
    for (Bucket& b : l.closed) l.closed_merged.merge(b.samples);
    l.closed_merged.shrink();
    l.closed_merged_valid = true;
  }
  return l.closed_merged;
}

Samples WindowSeries::samples(Window w) {
  if (w == Window::all) {
    Samples s = all_;
    s.merge(levels_[0].current.samples);
    return s;
  }
  const auto level = static_cast<std::uint32_t>(w);
  Samples s = closed_merged(level);
  for (std::uint32_t l = 0; l <= level; ++l) s.merge(levels_[l].current.samples);
  return s;
}

WindowCounts WindowSeries::counts(Window w, const WindowCounts& totals_now) const {
  if (w == Window::all) return totals_now.since(all_baseline_);
  const Level& l = levels_[static_cast<std::uint32_t>(w)];
  return totals_now.since(l.closed.empty() ? l.current.at_start : l.closed.front().at_start);
}

void WindowSeries::serialize(ByteWriter& out) {
  auto bucket = [&](Bucket& b) {
    out.u64(b.start_ms);
    write_counts(out, b.at_start);
    b.samples.serialize(out);
  };
  for (Level& l : levels_) {
    out.u64(l.closed.size());
    for (Bucket& b : l.closed) bucket(b);
    bucket(l.current);
  }
  all_.serialize(out);
  write_counts(out, all_baseline_);
  pending_.serialize(out);
}

std::optional<WindowSeries> WindowSeries::deserialize(ByteReader& in) {
  WindowSeries s;
  auto bucket = [&](Bucket& b) { return in.u64(b.start_ms) && read_counts(in, b.at_start) && b.samples.deserialize(in); };
  for (std::uint32_t level = 0; level < kLevels; ++level) {
    std::uint64_t closed = 0;
    if (!in.u64(closed) || closed > kShapes[level].slots) return std::nullopt;
    for (std::uint64_t i = 0; i < closed; ++i) {
      Bucket b;
      if (!bucket(b)) return std::nullopt;
      s.levels_[level].closed.push_back(std::move(b));
    }
    if (!bucket(s.levels_[level].current)) return std::nullopt;
  }
  if (!s.all_.deserialize(in) || !read_counts(in, s.all_baseline_) || !s.pending_.deserialize(in)) return std::nullopt;
  return s;
}

}  // namespace canary
