// SPDX-License-Identifier: Apache-2.0
// canary-shm-dump: a read-only look at a segment. Exit 0 on success, 2 when the segment does not
// exist, 3 when it is incompatible or corrupt (a segment still being created is waited for 1 s).
#include <chrono>
#include <iostream>
#include <thread>

#include "dump_snapshot.hpp"
#include "tool_common.hpp"

namespace canary::tools {
namespace {

constexpr std::string_view kTool = "canary-shm-dump";

Expected<Segment> attach_waiting_for_ready(const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (true) {
    auto attached = Segment::attach(name, Access::read_only);
    if (attached || attached.status().code() != Errc::not_ready || std::chrono::steady_clock::now() >= deadline)
      return attached;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int dump_once(const std::string& name, bool json, bool pretty) {
  auto segment = attach_waiting_for_ready(name);
  if (!segment) return report_error(kTool, segment.status());
  auto snapshot = take_snapshot(*segment);
  if (!snapshot) return report_error(kTool, snapshot.status());
  std::cout << (json ? render_json(*snapshot, pretty) + "\n" : render_text(*snapshot)) << std::flush;
  return kExitOk;
}

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary::tools;
  CLI::App app{"Print a canary-shm segment: header, config, totals, endpoints, rings, aggregator.", "canary-shm-dump"};
  add_version_flag(app, "canary-shm-dump");
  std::string segment;
  add_segment_option(app, segment);
  bool json = false;
  app.add_flag("--json", json, "one JSON object (one line per print with --watch)");
  std::string watch, count;
  app.add_option("--watch", watch, "print again every SECONDS (whole seconds, 1..3600)");
  app.add_option("--count", count, "with --watch: stop after COUNT prints");
  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;

  if (watch.empty()) return dump_once(segment, json, /*pretty=*/true);
  auto seconds = parse_bounded(watch, "--watch", 1, 3600);
  if (!seconds) return report_error(kTool, seconds.status());
  std::uint64_t prints = 0;
  if (!count.empty()) {
    auto n = parse_bounded(count, "--count", 1, UINT32_MAX);
    if (!n) return report_error(kTool, n.status());
    prints = *n;
  }
  for (std::uint64_t i = 0; prints == 0 || i < prints; ++i) {
    if (i != 0) std::this_thread::sleep_for(std::chrono::seconds(*seconds));
    if (!json) std::cout << (i == 0 ? "" : "\n") << "----\n";
    if (int rc = dump_once(segment, json, /*pretty=*/false); rc != kExitOk) return rc;
  }
  return kExitOk;
}
