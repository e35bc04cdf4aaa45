// SPDX-License-Identifier: Apache-2.0
#include "canary/tdigest.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "canary/detail/release_memory.hpp"

namespace canary {

static_assert(std::endian::native == std::endian::little, "serialize() writes the machine's doubles");

namespace {

constexpr char kMagic[4] = {'T', 'D', 'G', '1'};
constexpr std::size_t kHeaderBytes = 4 + 3 * sizeof(double) + sizeof(std::uint64_t);
constexpr std::uint64_t kMaxSerializedCentroids = 1u << 20;
constexpr double kMinCompression = 10;
constexpr double kMaxCompression = 10000;

// k2 and its inverse. `norm` carries the compression and the n-dependent normalizer.
double k_of(double q, double norm) { return norm * std::log(q / (1 - q)); }
double q_of(double k, double norm) { return 1 / (1 + std::exp(-k / norm)); }

double normalizer(double compression, double n) {
  return compression / std::max(4 * std::log(n / compression) + 24, 1.0);
}

// Sorts doubles by radix on their bit patterns, turned into unsigned keys that order like the
// values (flip every bit of negatives, only the sign bit of the rest). On the random latencies a
// digest sees this beats std::sort, whose comparisons mispredict about every other branch. One
// read of the keys counts all eight bytes; a byte that all keys share (the exponent's, and the
// low mantissa bytes of whole microseconds) then costs no pass.
void radix_sort(std::vector<double>& values, std::vector<std::uint64_t>& keys, std::vector<std::uint64_t>& spare) {
  const std::size_t n = values.size();
  if (n < 2) return;
  keys.resize(n);
  spare.resize(n);
  std::size_t count[8][256] = {};
  for (std::size_t i = 0; i < n; ++i) {
    const auto bits = std::bit_cast<std::uint64_t>(values[i]);
    const std::uint64_t k = bits >> 63 ? ~bits : bits | (std::uint64_t{1} << 63);
    keys[i] = k;
    for (unsigned b = 0; b < 8; ++b) ++count[b][(k >> (8 * b)) & 0xff];
  }
  for (unsigned b = 0; b < 8; ++b) {
    const unsigned shift = 8 * b;
    if (count[b][(keys[0] >> shift) & 0xff] == n) continue;  // every key has this byte
    std::size_t offset[256];
    for (std::size_t digit = 0, sum = 0; digit < 256; ++digit) {
      offset[digit] = sum;
      sum += count[b][digit];
    }
    for (std::uint64_t k : keys) spare[offset[(k >> shift) & 0xff]++] = k;
    keys.swap(spare);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t k = keys[i];
    values[i] = std::bit_cast<double>(k >> 63 ? k & ~(std::uint64_t{1} << 63) : ~k);
  }
}

// The buffers of one compress() at a time, reused by every digest of the thread: a digest owns only
// its centroids and its pending samples.
struct CompressBuffers {
  std::vector<std::uint64_t> keys, spare_keys;  // radix sort
  std::vector<TDigest::Centroid> incoming, scratch;
};
thread_local CompressBuffers t_buffers;

template <class T>
void put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <class T>
T take(const char*& p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  p += sizeof(T);
  return v;
}

}  // namespace

TDigest::TDigest(double compression)
    : compression_(std::clamp(compression, kMinCompression, kMaxCompression)),
      min_(std::numeric_limits<double>::infinity()),
      max_(-std::numeric_limits<double>::infinity()) {}

void TDigest::add(double value, double weight) {
  if (!(weight > 0) || !std::isfinite(value)) return;
  // Pending samples are merged in batches of ten times the compression: large enough that the
  // sort and re-clustering are paid rarely, small enough to stay in cache (BM_TDigestAdd was
  // 10-20% slower at 5x).
  if (pending_values_.size() + pending_.size() >= buffer_limit()) compress();
  if (weight == 1)
    pending_values_.push_back(value);  // nearly every add: sorting doubles is twice as fast as pairs
  else
    pending_.push_back({value, weight});
  pending_weight_ += weight;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void TDigest::add_all(const std::vector<double>& values) {
  // In chunks that stay in cache: one radix sort over a million values streams 16 MB eight times.
  constexpr std::size_t kChunk = 8192;
  for (std::size_t start = 0; start < values.size(); start += kChunk) {
    const std::size_t end = std::min(values.size(), start + kChunk);
    for (std::size_t i = start; i < end; ++i) {
      const double v = values[i];
      if (!std::isfinite(v)) continue;
      pending_values_.push_back(v);
      pending_weight_ += 1;
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
    compress();
  }
}

void TDigest::merge(const TDigest& other) {
  for (const Centroid& c : other.centroids_) add(c.mean, c.weight);
  for (const Centroid& c : other.pending_) add(c.mean, c.weight);
  for (double v : other.pending_values_) add(v);
  // Centroids carry means, not extremes: keep the other digest's true min and max.
  if (!other.empty()) {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
}

void TDigest::clear() {
  centroids_.clear();
  pending_.clear();
  pending_values_.clear();
  merged_weight_ = pending_weight_ = 0;
  min_ = std::numeric_limits<double>::infinity();
  max_ = -std::numeric_limits<double>::infinity();
}

void TDigest::compress() {
  if (pending_.empty() && pending_values_.empty()) return;
  const auto by_mean = [](const Centroid& a, const Centroid& b) { return a.mean < b.mean; };
  CompressBuffers& b = t_buffers;
  radix_sort(pending_values_, b.keys, b.spare_keys);
  std::sort(pending_.begin(), pending_.end(), by_mean);
  // incoming = the single samples and the weighted points, in order; scratch = that and the centroids.
  std::vector<Centroid>& incoming = b.incoming;
  std::vector<Centroid>& scratch = b.scratch;
  incoming.resize(pending_values_.size() + pending_.size());
  std::size_t v = 0, w = 0;
  for (Centroid& slot : incoming) {
    const bool take_value = w == pending_.size() || (v < pending_values_.size() && pending_values_[v] < pending_[w].mean);
    slot = take_value ? Centroid{pending_values_[v++], 1} : pending_[w++];
  }
  scratch.resize(centroids_.size() + incoming.size());
  std::merge(centroids_.begin(), centroids_.end(), incoming.begin(), incoming.end(), scratch.begin(), by_mean);

  const double total = merged_weight_ + pending_weight_;
  const double norm = normalizer(compression_, total);
  centroids_.clear();
  // A cluster keeps the weighted sum of its points, not a running mean: a running mean divides
  // once per point, in a chain each step waits on, and that division was most of the pass. The
  // mean, computed once per centroid, is clamped to the cluster's first and last point so that
  // rounding can never put two centroids out of order.
  const auto emit = [this](double sum, double weight, double lowest, double highest) {
    centroids_.push_back({std::clamp(sum / weight, lowest, highest), weight});
  };
  double sum = scratch[0].mean * scratch[0].weight;
  double weight = scratch[0].weight;
  double lowest = scratch[0].mean, highest = lowest;
  double before = 0;        // weight of the centroids already emitted
  double weight_limit = 0;  // total * the largest q the current centroid may reach
  for (std::size_t i = 1; i < scratch.size(); ++i) {
    const Centroid& next = scratch[i];
    const double proposed = weight + next.weight;
    if (before + proposed <= weight_limit) {
      sum += next.mean * next.weight;
      weight = proposed;
      highest = next.mean;
      continue;
    }
    emit(sum, weight, lowest, highest);
    before += weight;
    // The next centroid may span one unit of k from where this one ended.
    weight_limit = total * q_of(k_of(before / total, norm) + 1, norm);
    sum = next.mean * next.weight;
    weight = next.weight;
    lowest = highest = next.mean;
  }
  emit(sum, weight, lowest, highest);
  merged_weight_ = total;
  pending_weight_ = 0;
  pending_.clear();
  pending_values_.clear();
}

void TDigest::shrink() {
  compress();
  centroids_.shrink_to_fit();
  detail::release_memory(pending_);
  detail::release_memory(pending_values_);
}

std::size_t TDigest::heap_bytes() const {
  return (centroids_.capacity() + pending_.capacity()) * sizeof(Centroid) + pending_values_.capacity() * sizeof(double);
}

std::size_t TDigest::centroid_count() {
  compress();
  return centroids_.size();
}

double TDigest::quantile(double q) {
  compress();
  if (centroids_.empty()) return std::numeric_limits<double>::quiet_NaN();
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  const double total = merged_weight_;
  const double index = q * total;  // samples occupy [0, total); sample i is centred on i + 0.5
  const Centroid& first = centroids_.front();
  const Centroid& last = centroids_.back();
  if (centroids_.size() == 1) return first.weight == 1 ? first.mean : min_ + (max_ - min_) * q;
  // Inside the outer half of an end centroid: between the true extreme and the centroid.
  if (index < first.weight / 2)
    return first.weight == 1 ? first.mean : min_ + (first.mean - min_) * index / (first.weight / 2);
  if (index > total - last.weight / 2)
    return last.weight == 1 ? last.mean : max_ - (max_ - last.mean) * (total - index) / (last.weight / 2);

  double at = first.weight / 2;  // the centre of centroid i
  for (std::size_t i = 0; i + 1 < centroids_.size(); ++i) {
    const Centroid& a = centroids_[i];
    const Centroid& b = centroids_[i + 1];
    const double gap = (a.weight + b.weight) / 2;
    if (at + gap >= index) {
      double left = index - at;
      double right = at + gap - index;
      // A single sample sits at its own rank: no interpolation across its half. An index exactly
      // on the boundary belongs to the left sample (nearest rank: ceil(q n)).
      if (a.weight == 1 && left <= 0.5) return a.mean;
      if (b.weight == 1 && right < 0.5) return b.mean;
      if (a.weight == 1) left -= 0.5;
      if (b.weight == 1) right -= 0.5;
      return (a.mean * right + b.mean * left) / (left + right);
    }
    at += gap;
  }
  return last.mean;
}

std::string TDigest::serialize() {
  compress();
  std::string out;
  out.reserve(kHeaderBytes + centroids_.size() * 2 * sizeof(double));
  out.append(kMagic, sizeof kMagic);
  put(out, compression_);
  put(out, min_);
  put(out, max_);
  put(out, static_cast<std::uint64_t>(centroids_.size()));
  for (const Centroid& c : centroids_) {
    put(out, c.mean);
    put(out, c.weight);
  }
  return out;
}

std::optional<TDigest> TDigest::deserialize(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  const char* p = bytes.data() + sizeof kMagic;
  const double compression = take<double>(p);
  const double min = take<double>(p);
  const double max = take<double>(p);
  const auto n = take<std::uint64_t>(p);
  if (!(compression >= kMinCompression && compression <= kMaxCompression) || n > kMaxSerializedCentroids ||
      bytes.size() != kHeaderBytes + n * 2 * sizeof(double))
    return std::nullopt;
  TDigest d(compression);
  double previous = -std::numeric_limits<double>::infinity();
  for (std::uint64_t i = 0; i < n; ++i) {
    const double mean = take<double>(p);
    const double weight = take<double>(p);
    if (!std::isfinite(mean) || !(weight > 0) || !std::isfinite(weight) || mean < previous) return std::nullopt;
    d.centroids_.push_back({mean, weight});
    d.merged_weight_ += weight;
    previous = mean;
  }
  if (n > 0) {
    if (!(std::isfinite(min) && std::isfinite(max) && min <= d.centroids_.front().mean && max >= d.centroids_.back().mean))
      return std::nullopt;
    d.min_ = min;
    d.max_ = max;
  }
  return d;
}

}  // namespace canary
