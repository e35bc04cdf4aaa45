// SPDX-License-Identifier: Apache-2.0
// Reading and publishing the config block (layout.hpp describes the two-copy protocol).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "canary/events.hpp"
#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {

class Segment;

// A reader gives up after this many copies that were torn or invalid. Each attempt is one bounded
// copy of sizeof(ConfigData) bytes, so a read finishes in bounded time even while a writer
// rewrites the config in a loop; a reader that gives up keeps the config it had.
inline constexpr std::uint32_t kConfigReadAttempts = 4;

struct ConfigRead {
  bool ok = false;
  std::uint32_t attempts = 0;
};

// Copies the newest complete, valid config into `out`. Never blocks; `out` is only meaningful
// when ok is true.
ConfigRead read_config(const ConfigBlock& block, ConfigData& out, std::uint32_t endpoint_capacity) noexcept;

std::uint64_t config_checksum(const ConfigData& c) noexcept;

// nullptr when every field is within its bounds (and, if asked, the checksum matches); otherwise
// the first problem found, as a static string. Readers run it on every copy they take from the
// segment, inside a worker's route(), so it must not allocate.
const char* config_problem(const ConfigData& c, std::uint32_t endpoint_capacity,
                           bool check_checksum = true) noexcept;

// Writes `next` as generation published + 1 into the copy readers are not using, then publishes
// it. The caller holds the config lock (or is the segment's creator, before the magic is set).
void publish_config(ConfigBlock& block, ConfigData& next) noexcept;

// The one way to change a live config: takes the config lock (a lock the kernel drops if this
// process dies), reads the newest config, lets `change` edit a copy, validates, publishes, and
// records who did it and when. `change` returning an error leaves the config as it was. When
// `event` is given and the change filled it in, it is appended to the segment's event log under
// the same lock, with the states and shares before and after.
using ConfigChange = std::function<Status(ConfigData&)>;
Status update_config(Segment& segment, std::string_view who, const ConfigChange& change, EventDraft* event = nullptr);

}  // namespace canary
