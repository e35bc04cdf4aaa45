// SPDX-License-Identifier: Apache-2.0
// Every event is delivered: a burst of 150 changes within one interval reaches events.jsonl and a
// webhook, every one of them; a burst larger than the segment's log can hold (255) is not lost
// silently: the loss is counted in /metrics and /status and named in the next event delivered.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "canary/config.hpp"
#include "canary/deployment.hpp"
#include "canary/http/router.hpp"
#include "canary/http/server.hpp"
#include "canary/segment.hpp"
#include "raw_http.hpp"
#include "run_tool.hpp"
#include "scratch_dir.hpp"
#include "scratch_segment.hpp"
#include "server_process.hpp"

namespace canary {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// `count` pause/resume changes, as fast as the config lock allows (microseconds each).
void burst(Segment& segment, int count) {
  for (int i = 0; i < count; ++i) {
    EventDraft event;
    const bool pausing = i % 2 == 0;
    ASSERT_TRUE(update_config(segment, "burst",
                              [&](ConfigData& c) {
                                return pausing ? pause(c, "burst " + std::to_string(i), event)
                                               : resume(c, "burst " + std::to_string(i), event);
                              },
                              &event)
                    .ok());
  }
}

std::vector<json> lines_of(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
  return out;
}

TEST(EventDelivery, ABurstWithinOneIntervalReachesTheFileAndTheWebhookWhole) {
  testing::ScratchSegment s("events");
  testing::ScratchDir dir("events");
  std::atomic<int> hooked{0};
  http::Router receiver;
  receiver.add("POST", "/hook", [&](const http::Request&, const http::Captures&) {
    ++hooked;
    return http::Response{200, "application/json", "{}", {}};
  });
  auto hook = http::Server::listen({}, receiver);
  ASSERT_TRUE(hook) << hook.status().message();
  std::ofstream(dir.path + "/policy.yaml") << "webhooks:\n  - {kind: slack, url: http://127.0.0.1:" << (*hook)->port()
                                           << "/hook}\n";
  // One interval of 2 s, rings drained twice in it: the burst lands between two reads of the log.
  testing::AggregatorProcess agg(s.name(), {"--state-dir", dir.path, "--policy", dir.path + "/policy.yaml",
                                            "--interval-ms", "2000", "--drain-ms", "1000"});
  ASSERT_TRUE(agg.started()) << agg.output();

  burst(s.segment(), 150);
  const std::string events = dir.path + "/" + s.name() + ".events.jsonl";
  EXPECT_TRUE(testing::wait_until([&] { return lines_of(events).size() >= 150 && hooked.load() >= 150; }, 20s))
      << lines_of(events).size() << " lines, " << hooked.load() << " webhooks";
  const auto lines = lines_of(events);
  ASSERT_EQ(lines.size(), 150u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["reason"], "burst " + std::to_string(i));
    EXPECT_FALSE(lines[i].contains("events_lost_before"));
  }
  EXPECT_EQ(hooked.load(), 150);

  // More than the log holds between two reads: the loss is counted and said.
  burst(s.segment(), 400);
  EXPECT_TRUE(testing::wait_until([&] { return lines_of(events).size() >= 150 + 255; }, 20s));
  const auto after = lines_of(events);
  std::uint64_t said_lost = 0;
  for (const json& line : after)
    if (line.contains("events_lost_before")) said_lost += line["events_lost_before"].get<std::uint64_t>();
  EXPECT_EQ(said_lost, 400u - (after.size() - 150));
  EXPECT_GT(said_lost, 0u);
  std::istringstream metrics(testing::get_body(agg.port(), "/metrics"));
  std::uint64_t counted = 0;
  for (std::string line; std::getline(metrics, line);)
    if (line.rfind("canary_events_lost_total ", 0) == 0) counted = std::stoull(line.substr(25));
  EXPECT_EQ(counted, said_lost);
  const json status = json::parse(testing::get_body(agg.port(), "/api/v2/admin/canary/status"), nullptr, false);
  EXPECT_EQ(status["aggregator"]["events_lost"], said_lost);
  EXPECT_TRUE(agg.wait_for_output("events lost", 1s)) << agg.output();
  (*hook)->stop();
}

}  // namespace
}  // namespace canary
