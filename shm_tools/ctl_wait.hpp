// SPDX-License-Identifier: Apache-2.0
// `canary-ctl wait --for STATE[,STATE] [--version NAME] [--timeout D]`: blocks until a rollout
// reaches one of the states, for CI pipelines. Exit 0 when one is reached; 1 when the rollout
// reaches promoted, rolled_back or inconclusive (it needs a person) and that is not among them;
// 2 for a bad argument or no segment; 124 on timeout (as timeout(1)).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "canary/status.hpp"

namespace canary::tools {

inline constexpr int kExitTimeout = 124;

struct WaitArgs {
  std::string states;   // comma-separated: running, paused, rolled_back, promoted, inconclusive, awaiting_approval
  std::string version;  // the candidate; empty: the first
  std::string timeout;  // a duration (30s, 10m); empty: no limit
};

// A rollout as seen at one moment.
struct RolloutSeen {
  std::string state;  // running, paused, rolled_back, promoted, inconclusive
  bool awaiting_approval = false;
};

// Reads the rollout's state now; an error ends the wait (exit 2).
using RolloutReader = std::function<Expected<RolloutSeen>()>;

int run_wait(const WaitArgs& args, const RolloutReader& read, std::chrono::milliseconds poll_every);
// The reader of a local segment's candidate (by name, or the first).
RolloutReader segment_rollout_reader(const std::string& segment, const std::string& version);

}  // namespace canary::tools
