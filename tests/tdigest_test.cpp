// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "canary/histogram.hpp"
#include "canary/tdigest.hpp"

namespace canary {
namespace {

constexpr std::size_t kSamples = 1'000'000;

// The nearest-rank quantile: the sample of rank ceil(q * n).
double nearest_rank(std::vector<double>& sorted, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

std::vector<double> lognormal(std::mt19937_64& rng, double median_ms, double sigma, std::size_t n) {
  std::lognormal_distribution<double> d(std::log(median_ms), sigma);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

struct Accuracy {
  double p95, p99, p999;
};

Accuracy measure(std::vector<double> samples, const char* name) {
  TDigest digest;
  for (double x : samples) digest.add(x);
  std::sort(samples.begin(), samples.end());
  auto error = [&](double q) { return std::abs(digest.quantile(q) / nearest_rank(samples, q) - 1); };
  const Accuracy a{error(0.95), error(0.99), error(0.999)};
  std::printf("%-10s P95 %.4f%%  P99 %.4f%%  P99.9 %.4f%%  (%zu centroids for %zu samples)\n", name, 100 * a.p95,
              100 * a.p99, 100 * a.p999, digest.centroid_count(), samples.size());
  return a;
}

void expect_accurate(const Accuracy& a) {
  EXPECT_LE(a.p95, 0.005);
  EXPECT_LE(a.p99, 0.005);
  EXPECT_LE(a.p999, 0.02);
}

TEST(TDigest, LognormalMedian200Sigma05) {
  std::mt19937_64 rng(1);
  expect_accurate(measure(lognormal(rng, 200, 0.5, kSamples), "lognormal"));
}

TEST(TDigest, Bimodal90PercentFast10PercentSlow) {
  std::mt19937_64 rng(2);
  std::vector<double> v = lognormal(rng, 100, 0.3, kSamples * 9 / 10);
  const std::vector<double> slow = lognormal(rng, 800, 0.4, kSamples / 10);
  v.insert(v.end(), slow.begin(), slow.end());
  std::shuffle(v.begin(), v.end(), rng);
  expect_accurate(measure(v, "bimodal"));
}

TEST(TDigest, ParetoScale100Alpha25) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(kSamples);
  for (double& x : v) x = 100.0 / std::pow(1.0 - u(rng), 1.0 / 2.5);
  expect_accurate(measure(v, "pareto"));
}

TEST(TDigest, AgreesWithTheSlabHistogramWithinABucket) {
  std::mt19937_64 rng(4);
  const std::vector<double> ms = lognormal(rng, 200, 0.5, kSamples);
  TDigest digest;
  std::vector<std::uint64_t> histogram(kHistogramBuckets);
  for (double x : ms) {
    const auto us = static_cast<std::uint64_t>(std::llround(x * 1000));
    digest.add(static_cast<double>(us));
    ++histogram[histogram_bucket(us)];
  }
  // The histogram's P95: the bucket holding rank ceil(0.95 n).
  const auto rank = static_cast<std::uint64_t>(std::ceil(0.95 * static_cast<double>(ms.size())));
  std::uint64_t seen = 0;
  std::uint32_t bucket = 0;
  while ((seen += histogram[bucket]) < rank) ++bucket;
  const double p95 = digest.quantile(0.95);
  const double lower = static_cast<double>(histogram_bucket_lower(bucket));
  const double width = static_cast<double>(histogram_bucket_upper(bucket) - histogram_bucket_lower(bucket));
  EXPECT_GE(p95, lower - width);
  EXPECT_LE(p95, lower + 2 * width);
}

TEST(TDigest, MergingDigestsIsAsGoodAsOneDigest) {
  std::mt19937_64 rng(5);
  std::vector<double> all;
  TDigest merged;
  for (int part = 0; part < 100; ++part) {
    TDigest d;
    for (double x : lognormal(rng, 200, 0.5, 10000)) {
      d.add(x);
      all.push_back(x);
    }
    merged.merge(d);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(merged.count(), 1e6);
  for (double q : {0.5, 0.95, 0.99}) EXPECT_NEAR(merged.quantile(q) / nearest_rank(all, q), 1.0, 0.005) << q;
  EXPECT_EQ(merged.min(), all.front());
  EXPECT_EQ(merged.max(), all.back());
}

TEST(TDigest, SerializesAndRefusesMalformedBytes) {
  TDigest d;
  std::mt19937_64 rng(6);
  for (double x : lognormal(rng, 50, 1, 100000)) d.add(x);
  const std::string bytes = d.serialize();
  auto back = TDigest::deserialize(bytes);
  ASSERT_TRUE(back);
  for (double q : {0.01, 0.5, 0.95, 0.999}) EXPECT_DOUBLE_EQ(back->quantile(q), d.quantile(q));
  EXPECT_EQ(back->count(), d.count());
  EXPECT_FALSE(TDigest::deserialize(bytes.substr(0, bytes.size() - 1)));
  EXPECT_FALSE(TDigest::deserialize("nonsense"));
  std::string unsorted = bytes;
  std::swap_ranges(unsorted.begin() + 36, unsorted.begin() + 44, unsorted.end() - 16);  // first and last mean
  EXPECT_FALSE(TDigest::deserialize(unsorted));
  std::mt19937 flip(7);
  for (int i = 0; i < 2000; ++i) {  // random damage never crashes
    std::string damaged = bytes;
    damaged[flip() % damaged.size()] ^= static_cast<char>(1 << (flip() % 8));
    auto r = TDigest::deserialize(damaged);
    if (r) (void)r->quantile(0.99);
  }
}

TEST(TDigest, RepeatedValuesKeepCentroidsInOrderThroughACheckpoint) {
  // A cluster's mean is its weighted sum over its weight: for a value like 0.1, repeated, that
  // rounds past the value itself, and an unclamped mean would sort after the next centroid's,
  // which deserialize() (rightly) refuses.
  TDigest d;
  for (int round = 0; round < 50; ++round)
    for (double v : {0.1, 0.3, 0.7, 1.1}) for (int i = 0; i < 997; ++i) d.add(v);
  auto back = TDigest::deserialize(d.serialize());
  ASSERT_TRUE(back) << "centroid means out of order";
  EXPECT_EQ(back->count(), d.count());
  EXPECT_GE(back->quantile(0.01), 0.1);
  EXPECT_LE(back->quantile(0.99), 1.1);
}

TEST(TDigest, AddingAllAtOnceIsAsGoodAsOneByOne) {
  std::mt19937_64 rng(12);
  std::vector<double> v = lognormal(rng, 200, 0.5, 200000);
  v.push_back(std::nan(""));
  TDigest bulk, single;
  bulk.add_all(v);
  for (double x : v) single.add(x);
  EXPECT_EQ(bulk.count(), 200000);
  EXPECT_EQ(bulk.min(), single.min());
  EXPECT_EQ(bulk.max(), single.max());
  v.pop_back();
  std::sort(v.begin(), v.end());
  for (double q : {0.5, 0.95, 0.99}) EXPECT_NEAR(bulk.quantile(q) / nearest_rank(v, q), 1.0, 0.005) << q;
}

TEST(TDigest, NegativeAndMixedValuesSortCorrectly) {
  TDigest d;
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(-1000.0, 1000.0);
  std::vector<double> v(200000);
  for (double& x : v) {
    x = u(rng);
    d.add(x);
  }
  d.add(-0.0);
  d.add(0.0);
  std::sort(v.begin(), v.end());
  for (double q : {0.01, 0.25, 0.5, 0.75, 0.99}) EXPECT_NEAR(d.quantile(q), nearest_rank(v, q), 2.0) << q;
  EXPECT_EQ(d.min(), v.front());
  EXPECT_EQ(d.max(), v.back());
}

TEST(TDigest, SmallAndEdgeCases) {
  TDigest d;
  EXPECT_TRUE(std::isnan(d.quantile(0.5)));
  d.add(42);
  EXPECT_EQ(d.quantile(0.5), 42);
  d.add(std::nan(""));
  d.add(1, 0);
  EXPECT_EQ(d.count(), 1);
  for (int i = 1; i <= 100; ++i) d.add(i);
  EXPECT_EQ(d.quantile(0), 1);
  EXPECT_EQ(d.quantile(1), 100);
  EXPECT_NEAR(d.quantile(0.5), 50, 1);
}

}  // namespace
}  // namespace canary
