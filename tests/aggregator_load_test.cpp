// SPDX-License-Identifier: Apache-2.0
// Sustained load against a live aggregator: 2 workers at 200,000 records per second each for 30 s.
// Counts must stay exact; ring records may be dropped only when a ring fills, at most 0.1%.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server_process.hpp"
#include "canary/segment.hpp"
#include "run_tool.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using nlohmann::json;
using testing::run_tool;

TEST(AggregatorLoad, TwoWorkersAt200kPerSecondFor30sLoseAtMostOneRingRecordInAThousand) {
  const std::string name = testing::unique_segment_name("load");
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", name, "init"}).exit_code, 0);
  testing::AggregatorProcess aggregator(name, {});
  ASSERT_TRUE(aggregator.started()) << aggregator.output();
  const auto load = run_tool(CANARY_LOADGEN_PATH,
                             {"--segment", name, "--workers", "2", "--requests", "6000000", "--rate", "200000"});
  ASSERT_EQ(load.exit_code, 0) << load.err;
  usleep(1'500'000);  // an interval and a drain
  const json truth = json::parse(load.out);
  const json dump = json::parse(run_tool(CANARY_DUMP_PATH, {"--segment", name, "--json"}).out);
  EXPECT_EQ(dump["totals"], truth["totals"]);
  const auto recorded = truth["requests"].get<double>();
  const auto dropped = dump["drops"]["ring_full"].get<double>() + dump["drops"]["no_free_ring"].get<double>();
  const double fraction = dropped / recorded;
  std::printf("recorded %.0f in %.1f s (%.0f per second), %.0f ring records dropped: %.5f%%\n", recorded,
              truth["elapsed_s"].get<double>(), truth["requests_per_s"].get<double>(), dropped, 100 * fraction);
  EXPECT_LE(fraction, 0.001);
  EXPECT_GE(truth["elapsed_s"].get<double>(), 29.0);
  aggregator.stop();
  (void)Segment::destroy(name);
}

}  // namespace
}  // namespace canary
