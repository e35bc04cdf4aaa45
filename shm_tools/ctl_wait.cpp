// SPDX-License-Identifier: Apache-2.0
#include "ctl_wait.hpp"

#include <chrono>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include "canary/config.hpp"
#include "canary/duration.hpp"
#include "canary/segment.hpp"
#include "canary/versions.hpp"
#include "tool_common.hpp"

namespace canary::tools {

namespace {

constexpr std::string_view kTool = "canary-ctl";
constexpr int kExitBadArgument = 2;

const std::set<std::string>& waitable_states() {
  static const std::set<std::string> states = {"running", "paused", "rolled_back", "promoted", "inconclusive",
                                               "awaiting_approval"};
  return states;
}

// The states a rollout stays in until a person acts: reaching one that was not waited for ends the wait.
bool needs_a_person(const std::string& state) {
  return state == "promoted" || state == "rolled_back" || state == "inconclusive";
}

Expected<std::set<std::string>> parse_states(const std::string& text) {
  std::set<std::string> states;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string state = text.substr(start, comma - start);
    if (waitable_states().count(state) == 0)
      return Status{Errc::invalid_argument, "--for: '" + state.substr(0, 40) +
                                                "' is not a state (running, paused, rolled_back, promoted, inconclusive, "
                                                "awaiting_approval)"};
    states.insert(state);
    start = comma + 1;
  }
  return states;
}

}  // namespace

int run_wait(const WaitArgs& args, const RolloutReader& read, std::chrono::milliseconds poll_every) {
  auto states = parse_states(args.states);
  if (!states) {
    report_error(kTool, states.status());
    return kExitBadArgument;
  }
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (!args.timeout.empty()) {
    const auto ms = parse_duration_ms(args.timeout);
    if (!ms) {
      report_error(kTool, {Errc::invalid_argument, "--timeout: '" + args.timeout.substr(0, 40) + "' is not a duration such as 90s or 10m"});
      return kExitBadArgument;
    }
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*ms);
  }
  for (;;) {
    auto seen = read();
    if (!seen) {
      report_error(kTool, seen.status());
      return kExitBadArgument;
    }
    if (states->count(seen->state) != 0 || (seen->awaiting_approval && states->count("awaiting_approval") != 0)) {
      std::cout << (seen->awaiting_approval && states->count(seen->state) == 0 ? "awaiting_approval" : seen->state) << '\n';
      return kExitOk;
    }
    if (needs_a_person(seen->state)) {
      std::cerr << "canary-ctl: the rollout is " << seen->state << ", not " << args.states << '\n';
      std::cout << seen->state << '\n';
      return kExitError;
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      std::cerr << "canary-ctl: timed out after " << args.timeout << " waiting for " << args.states << " (the rollout is "
                << seen->state << ")\n";
      return kExitTimeout;
    }
    std::this_thread::sleep_for(poll_every);
  }
}

RolloutReader segment_rollout_reader(const std::string& segment, const std::string& version) {
  return [segment, version]() -> Expected<RolloutSeen> {
    // Attached on every look: a segment replaced meanwhile (init --force, migrate) is seen as it is now.
    auto attached = Segment::attach(segment, Access::read_only);
    if (!attached) return attached.status();
    auto c = std::make_unique<ConfigData>();
    if (!read_config(attached->config(), *c, attached->geometry().params.endpoint_capacity).ok)
      return Status{Errc::corrupt, "the segment's config is corrupt: neither copy is valid"};
    std::uint32_t index = first_candidate(*c);
    if (!version.empty()) {
      const auto found = find_version(*c, version);
      if (!found || *found == c->baseline)
        return Status{Errc::invalid_argument, "--version: '" + version.substr(0, 40) + "' is not a candidate of segment '" + segment + "'"};
      index = *found;
    }
    const VersionEntry& e = c->versions[index];
    return RolloutSeen{std::string(to_string(static_cast<DeploymentState>(e.state))), static_cast<bool>(e.awaiting_approval)};
  };
}

}  // namespace canary::tools
