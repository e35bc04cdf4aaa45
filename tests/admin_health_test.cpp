// SPDX-License-Identifier: Apache-2.0
// /healthz and /readyz of the admin API, in-process so the aggregator's loop can be held still:
// ready only once the rings were drained, unhealthy once no interval completed for three.
#include <gtest/gtest.h>

#include <thread>

#include "admin_server.hpp"
#include "canary/aggregator.hpp"
#include "raw_http.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using namespace std::chrono_literals;

int get_status(int port, const std::string& path) {
  std::chrono::milliseconds elapsed{};
  return testing::timed_get(port, path, elapsed);
}

TEST(AdminHealth, ReadyAfterTheFirstDrainUnhealthyAfterThreeIntervalsWithoutOne) {
  testing::ScratchSegment s("health");
  AggregatorOptions options;
  options.interval_ms = 50;
  auto agg = Aggregator::start(s.segment(), options);
  ASSERT_TRUE(agg) << agg.status().message();
  tools::AdminOptions admin;
  admin.port = 0;
  auto server = tools::AdminServer::start(**agg, admin);
  ASSERT_TRUE(server) << server.status().message();
  const int port = (*server)->port();

  EXPECT_EQ(get_status(port, "/readyz"), 503) << "nothing drained yet";
  EXPECT_EQ(get_status(port, "/healthz"), 200) << "start() completed an interval";
  (*agg)->drain();
  EXPECT_EQ(get_status(port, "/readyz"), 200);

  // The loop is held still (nobody calls tick()): three intervals later it is unhealthy.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(get_status(port, "/healthz"), 503);
  (*agg)->tick();
  EXPECT_EQ(get_status(port, "/healthz"), 200);
  (*server)->stop();
}

}  // namespace
}  // namespace canary
