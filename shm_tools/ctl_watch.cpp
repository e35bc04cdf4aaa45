// SPDX-License-Identifier: Apache-2.0
#include "ctl_watch.hpp"

#include <signal.h>

#include <atomic>
#include <ctime>
#include <sstream>
#include <thread>

#include "canary/segment.hpp"
#include "ctl_status.hpp"
#include "tool_common.hpp"

namespace canary::tools {

namespace {

std::atomic<bool> g_stop{false};

void stop_watching(int) { g_stop.store(true); }

std::string local_time() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

}  // namespace

int watch_status(const std::string& segment, bool json, std::chrono::milliseconds every, std::ostream& out) {
  // A handler that only sets a flag: the loop ends between two looks, never in the middle of a print.
  struct sigaction action {};
  action.sa_handler = stop_watching;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::string shown;
  while (!g_stop.load()) {
    // A segment that cannot be read is said in the output, once while it stays so.
    std::ostringstream now;
    auto attached = Segment::attach(segment, Access::read_only);
    if (!attached || (json ? print_status_json(segment, now) : print_status(segment, now)) != kExitOk)
      now.str("unavailable: " + (attached ? std::string("its config has no valid copy") : attached.status().message()) + "\n");
    const std::string text = now.str();
    if (text != shown) {
      out << "--- " << local_time() << '\n' << text << std::flush;
      shown = text;
    }
    for (auto slept = std::chrono::milliseconds(0); slept < every && !g_stop.load(); slept += std::chrono::milliseconds(50))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return kExitOk;
}

}  // namespace canary::tools
