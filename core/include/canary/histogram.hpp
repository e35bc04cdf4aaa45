// SPDX-License-Identifier: Apache-2.0
// The slab's log-linear latency histogram (layout.hpp fixes its shape): which bucket a latency in
// microseconds falls in, and the range each bucket covers.
#pragma once

#include <cstdint>

#include "canary/layout.hpp"

namespace canary {

constexpr std::uint32_t histogram_bucket(std::uint64_t latency_us) {
  if (latency_us < kHistogramLinearMax) return static_cast<std::uint32_t>(latency_us);
  if (latency_us > kHistogramMaxUs) return kHistogramOverflowBucket;
  const auto octave = static_cast<std::uint32_t>(63 - __builtin_clzll(latency_us));  // 7 .. 25
  const auto sub = static_cast<std::uint32_t>(latency_us >> (octave - kHistogramSubBucketBits)) & 63;
  return kHistogramLinearMax + (octave - 7) * 64 + sub;
}

// Inclusive lower bound of a bucket, in microseconds.
constexpr std::uint64_t histogram_bucket_lower(std::uint32_t bucket) {
  if (bucket < kHistogramLinearMax) return bucket;
  if (bucket >= kHistogramOverflowBucket) return kHistogramMaxUs + 1;
  const std::uint32_t octave = 7 + (bucket - kHistogramLinearMax) / 64;
  const std::uint64_t sub = (bucket - kHistogramLinearMax) % 64;
  return (64 + sub) << (octave - kHistogramSubBucketBits);
}

// Exclusive upper bound; the overflow bucket has none (UINT64_MAX).
constexpr std::uint64_t histogram_bucket_upper(std::uint32_t bucket) {
  if (bucket >= kHistogramOverflowBucket) return UINT64_MAX;
  if (bucket < kHistogramLinearMax) return bucket + 1;
  const std::uint64_t upper = histogram_bucket_lower(bucket) + (std::uint64_t{1} << ((bucket - kHistogramLinearMax) / 64 + 1));
  return upper > kHistogramMaxUs + 1 ? kHistogramMaxUs + 1 : upper;
}

static_assert(histogram_bucket(0) == 0 && histogram_bucket(127) == 127 && histogram_bucket(128) == 128);
static_assert(histogram_bucket(kHistogramMaxUs) < kHistogramOverflowBucket);
static_assert(histogram_bucket(kHistogramMaxUs + 1) == kHistogramOverflowBucket);
static_assert(histogram_bucket_lower(histogram_bucket(1000)) <= 1000 && histogram_bucket_upper(histogram_bucket(1000)) > 1000);

}  // namespace canary
