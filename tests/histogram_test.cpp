// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "canary/histogram.hpp"

namespace canary {
namespace {

TEST(Histogram, BucketsBelow128MicrosecondsAreExact) {
  for (std::uint64_t us = 0; us < 128; ++us) {
    EXPECT_EQ(histogram_bucket(us), us);
    EXPECT_EQ(histogram_bucket_lower(static_cast<std::uint32_t>(us)), us);
    EXPECT_EQ(histogram_bucket_upper(static_cast<std::uint32_t>(us)), us + 1);
  }
}

TEST(Histogram, EveryBucketUpTo60SecondsIsAtMostTwoPercentWideAndContainsItsValues) {
  std::uint32_t previous = 0;
  for (std::uint64_t us = 128; us <= kHistogramMaxUs; us += 1 + us / 997) {
    const std::uint32_t b = histogram_bucket(us);
    ASSERT_GE(b, previous) << us;  // monotone
    ASSERT_LT(b, kHistogramOverflowBucket) << us;
    const std::uint64_t lower = histogram_bucket_lower(b), upper = histogram_bucket_upper(b);
    ASSERT_LE(lower, us);
    ASSERT_GT(upper, us);
    ASSERT_LE(static_cast<double>(upper - lower) / static_cast<double>(lower), 0.02) << us;
    previous = b;
  }
}

TEST(Histogram, EverythingAbove60SecondsLandsInTheTopBucket) {
  EXPECT_LT(histogram_bucket(60'000'000), kHistogramOverflowBucket);
  EXPECT_EQ(histogram_bucket(60'000'001), kHistogramOverflowBucket);
  EXPECT_EQ(histogram_bucket(UINT64_MAX), kHistogramOverflowBucket);
  EXPECT_LT(kHistogramOverflowBucket, kHistogramBuckets);
}

}  // namespace
}  // namespace canary
