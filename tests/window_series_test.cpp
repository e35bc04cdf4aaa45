// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cmath>

#include "canary/window_series.hpp"

namespace canary {
namespace {

constexpr std::uint64_t kSecond = 1000;
constexpr std::uint64_t kMinute = 60 * kSecond;
constexpr std::uint64_t kHour = 60 * kMinute;
constexpr std::uint64_t kStart = 1'000'000'000;  // a monotonic time far from zero

// Feeds `per_second` samples of `latency` each second from `from` to `to`, advancing every second,
// and keeps cumulative counts the way the slabs would.
struct Feeder {
  WindowSeries series{kStart, {}};
  WindowCounts totals;
  void run(std::uint64_t from, std::uint64_t to, std::uint64_t per_second, double latency) {
    for (std::uint64_t t = from; t < to; t += kSecond) {
      for (std::uint64_t i = 0; i < per_second; ++i) series.add(latency);
      totals.requests += per_second;
      totals.latency_sum_us += per_second * static_cast<std::uint64_t>(latency);
      series.advance(t + kSecond, totals);
    }
  }
};

TEST(WindowSeries, RecentTrafficShowsInEveryWindowOldTrafficOnlyInTheLongOnes) {
  Feeder f;
  f.run(kStart, kStart + 10 * kMinute, 10, 100);          // 10 minutes at 100 us
  f.run(kStart + 10 * kMinute, kStart + 12 * kMinute, 10, 900);  // then 2 minutes at 900 us
  const std::uint64_t now = kStart + 12 * kMinute;
  EXPECT_NEAR(f.series.digest(Window::m5).quantile(0.5), 100, 1);  // 3 of its 5 minutes were fast
  EXPECT_NEAR(f.series.digest(Window::m5).quantile(0.9), 900, 1);
  EXPECT_NEAR(f.series.digest(Window::h1).quantile(0.5), 100, 1);
  const WindowCounts m5 = f.series.counts(Window::m5, f.totals);
  EXPECT_NEAR(static_cast<double>(m5.requests), 3000, 200);  // 5 minutes to within one 10 s bucket
  EXPECT_EQ(f.series.counts(Window::all, f.totals).requests, 12 * 60 * 10u);
  EXPECT_EQ(f.series.counts(Window::h1, f.totals).requests, 12 * 60 * 10u);
  (void)now;
}

TEST(WindowSeries, AWindowForgetsWhatIsOlderThanItself) {
  Feeder f;
  f.run(kStart, kStart + kMinute, 10, 5000);
  f.run(kStart + kMinute, kStart + 7 * kMinute, 1, 100);
  EXPECT_LT(f.series.digest(Window::m5).quantile(0.999), 200);  // the slow minute has left 5m
  EXPECT_GT(f.series.digest(Window::h1).quantile(0.9), 4000);   // but not 1h
  const WindowCounts m5 = f.series.counts(Window::m5, f.totals);
  EXPECT_NEAR(static_cast<double>(m5.requests), 300, 20);
  EXPECT_NEAR(static_cast<double>(m5.latency_sum_us) / static_cast<double>(m5.requests), 100, 1);
}

TEST(WindowSeries, MemoryStaysBoundedOverDays) {
  Feeder f;
  // Two days, one sample a second: bucket rings stop growing at their window.
  f.run(kStart, kStart + 48 * kHour, 1, 250);
  ByteWriter out;
  f.series.serialize(out);
  EXPECT_LT(out.out().size(), 700'000u);
  // 95 closed buckets of 15 min and the current one: 24 h to within one bucket.
  EXPECT_NEAR(static_cast<double>(f.series.counts(Window::h24, f.totals).requests), 24 * 3600, 900);
  EXPECT_NEAR(static_cast<double>(f.series.counts(Window::h6, f.totals).requests), 6 * 3600, 300);
  EXPECT_EQ(f.series.counts(Window::all, f.totals).requests, 48 * 3600u);
}

TEST(WindowSeries, ANewRolloutRestartsAllButNotTheTimeWindows) {
  Feeder f;
  f.run(kStart, kStart + 2 * kMinute, 10, 1000);
  f.series.start_rollout(kStart + 2 * kMinute, f.totals);
  EXPECT_EQ(f.series.counts(Window::all, f.totals).requests, 0u);
  EXPECT_TRUE(f.series.digest(Window::all).empty());
  f.run(kStart + 2 * kMinute, kStart + 3 * kMinute, 10, 10);
  EXPECT_EQ(f.series.counts(Window::all, f.totals).requests, 600u);
  EXPECT_NEAR(f.series.digest(Window::all).quantile(0.99), 10, 0.5);
  EXPECT_EQ(f.series.counts(Window::m5, f.totals).requests, 1800u);
}

TEST(WindowSeries, SerializesAndRestoresExactly) {
  Feeder f;
  f.run(kStart, kStart + 20 * kMinute, 5, 300);
  f.run(kStart + 20 * kMinute, kStart + 21 * kMinute, 5, 700);
  ByteWriter out;
  f.series.serialize(out);
  ByteReader in(out.out());
  auto back = WindowSeries::deserialize(in);
  ASSERT_TRUE(back);
  EXPECT_TRUE(in.at_end());
  for (Window w : kAllWindows) {
    EXPECT_DOUBLE_EQ(back->digest(w).quantile(0.95), f.series.digest(w).quantile(0.95));
    EXPECT_EQ(back->counts(w, f.totals).requests, f.series.counts(w, f.totals).requests);
  }
  std::string damaged = out.out();
  damaged.resize(damaged.size() / 2);
  ByteReader short_in(damaged);
  EXPECT_FALSE(WindowSeries::deserialize(short_in));
}

TEST(WindowSeries, WindowNamesParse) {
  for (Window w : kAllWindows) EXPECT_EQ(parse_window(to_string(w)), w);
  EXPECT_FALSE(parse_window("7d"));
}

}  // namespace
}  // namespace canary
