// SPDX-License-Identifier: Apache-2.0
// The latency digests and counts of one (version, endpoint) over the windows people look at:
// 5 minutes, 1 hour, 6 hours, 24 hours, and `all` since the rollout started.
//
// Digests live in a cascade of bucket rings: 30 buckets of 10 s, 60 of 1 min, 72 of 5 min, 96 of
// 15 min. Records go into the current 10 s bucket; a bucket that closes is merged into the
// current bucket of the next level and into `all`, then kept, compressed, in its own ring. A
// window is its level's closed buckets plus every level's current bucket, so a window is its
// length to within one bucket of its level. Counts come from the slabs, not the rings: each
// bucket remembers the cumulative counts when it opened, and a window's counts are the totals now
// minus those at its oldest bucket.
//
// Each bucket keeps its samples twice: a t-digest (smooth estimates) and a LatencySketch (exact
// counts in 0.39%-wide bins, which hold every reported quantile within 0.25% of the exact one).
// Records drained since the last interval wait in `pending()` until advance() folds them in, so
// the aggregator can journal exactly one interval's samples.
//
// Memory is bounded by the bucket count, whatever the request rate: per (version, endpoint) with
// traffic, 258 closed buckets, each a compressed digest (at most about 140 centroids of 16 bytes)
// and a frozen sketch (2-3 bytes per bin in use; a service's latencies use some hundreds to a few
// thousand bins), and a few buckets being filled. At the seed's traffic shape a day of one series
// holds 1-2 MB (bench/window_memory_bench.cpp measures it; docs/aggregator.md has the table).
// Under memory pressure the aggregator coarsens the longer windows (coarsen()): their older buckets
// merge in pairs, so a window keeps its counts exactly and its quantiles within the bound, and
// only its edge becomes as coarse as its buckets.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

#include "canary/byte_io.hpp"
#include "canary/latency_sketch.hpp"
#include "canary/slab.hpp"
#include "canary/tdigest.hpp"

namespace canary {

enum class Window : std::uint8_t { m5 = 0, h1, h6, h24, all };
inline constexpr std::uint32_t kWindowCount = 5;
inline constexpr Window kAllWindows[kWindowCount] = {Window::m5, Window::h1, Window::h6, Window::h24, Window::all};

std::string_view to_string(Window w);
std::optional<Window> parse_window(std::string_view text);

// What a window counts, from cumulative slab counts.
struct WindowCounts {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;         // status 0 and 5xx
  std::uint64_t client_errors = 0;  // 4xx
  std::uint64_t unavailable = 0;    // status 0, 502, 503, 504
  std::uint64_t latency_sum_us = 0;

  static WindowCounts of(const Counts& c);
  // Saturates at zero: a checkpoint from another segment can never make a count negative.
  WindowCounts since(const WindowCounts& earlier) const;
  WindowCounts& operator+=(const WindowCounts& o);
};

// Latency samples, twice: a t-digest and a sketch of the same values.
struct Samples {
  TDigest digest;
  LatencySketch sketch;

  void add(std::uint32_t latency_us) {
    digest.add(static_cast<double>(latency_us));
    sketch.add(latency_us);
  }
  void merge(const Samples& other) {
    digest.merge(other.digest);
    sketch.merge(other.sketch);
  }
  void clear() {
    digest.clear();
    sketch.clear();
  }
  void shrink() {
    digest.shrink();
    sketch.compact();
  }
  // Gives back the digest's buffers, keeping the sketch as it is: for samples merged into now and
  // then (once an interval), not fed one by one.
  void release_buffers() { digest.shrink(); }
  std::size_t heap_bytes() const { return digest.heap_bytes() + sketch.heap_bytes(); }
  bool empty() const { return sketch.empty() && digest.empty(); }
  // The q-quantile in microseconds, within LatencySketch::kRelativeBound of the exact value.
  double quantile(double q) { return bounded_quantile(digest, sketch, q); }

  void serialize(ByteWriter& out);
  bool deserialize(ByteReader& in);
};

class WindowSeries {
 public:
  WindowSeries(std::uint64_t now_ms, const WindowCounts& totals_now);

  void add(std::uint32_t latency_us) { pending_.add(latency_us); }
  // What was added since the last advance().
  Samples& pending() { return pending_; }
  // Folds the pending samples into the current buckets now, without closing any (before a
  // checkpoint: it holds the series' buckets, and nothing waits outside them).
  void fold_pending();

  // Folds the pending samples into the current buckets, then closes every bucket whose time is
  // up; `totals_now` are the cumulative counts at now_ms.
  void advance(std::uint64_t now_ms, const WindowCounts& totals_now);

  // A new rollout: `all` starts over from these totals and from now.
  void start_rollout(std::uint64_t now_ms, const WindowCounts& totals_now);

  // A window's samples (its buckets merged; pending samples are not in any window yet).
  Samples samples(Window w);
  TDigest digest(Window w) { return samples(w).digest; }
  WindowCounts counts(Window w, const WindowCounts& totals_now) const;

  void serialize(ByteWriter& out);
  static std::optional<WindowSeries> deserialize(ByteReader& in);

  // What the series holds on the heap, its buckets' samples and their bookkeeping.
  std::size_t heap_bytes() const;

  // The windows with buckets of their own, 5m (level 0) to 24h (level 3).
  static constexpr std::uint32_t kLevels = 4;
  // The most a level's buckets are ever merged: 8 of them (24h in 2-hour buckets, 6h in 40-minute,
  // 1h in 8-minute). The 5-minute window, the one people watch during an incident, never coarsens.
  static constexpr std::uint32_t kMaxCoarsening = 8;
  // Merges `level`'s closed buckets in pairs, and from now on closes them two by two: the level's
  // buckets become twice as long. False when the level may not coarsen further.
  bool coarsen(std::uint32_t level);
  std::uint32_t coarsening(std::uint32_t level) const { return levels_[level].merge_factor; }
  // A level's bucket length, as it is now.
  static std::uint64_t bucket_ms(std::uint32_t level);

 private:
  struct Bucket {
    std::uint64_t start_ms = 0;
    WindowCounts at_start;
    Samples samples;
    std::uint32_t spans = 1;  // the level's buckets it holds (more than one once coarsened)
  };
  struct Level {
    std::deque<Bucket> closed;  // oldest first
    Bucket current;
    Samples closed_merged;      // the closed buckets merged; rebuilt when they change
    bool closed_merged_valid = false;
    std::uint32_t merge_factor = 1;  // buckets a closed one may hold (coarsen())
  };

  WindowSeries() = default;
  void close_current(std::uint32_t level, std::uint64_t now_ms, const WindowCounts& totals_now);
  const Samples& closed_merged(std::uint32_t level);

  Level levels_[kLevels];
  Samples all_;  // closed level-0 buckets since the rollout started
  WindowCounts all_baseline_;
  Samples pending_;
};

}  // namespace canary
