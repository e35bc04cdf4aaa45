// SPDX-License-Identifier: Apache-2.0
// The deployment event log in the segment (layout.hpp: EventEntry): the last 255 events, appended
// by whoever changes the deployment (canary-ctl, the admin API, the aggregator's decisions) under
// the config lock, read by anyone without tearing. The aggregator follows it to write JSON lines
// to its state directory and to send webhooks, whoever made the event.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canary/types.hpp"

namespace canary {

class Segment;

// What a config change wants recorded; update_config() adds the rest (time, states, shares).
struct EventDraft {
  EventKind kind = EventKind::none;
  std::string reason;
  std::string details_json;  // the numbers behind it, a JSON object; may be empty
  std::uint32_t latency_ms = 0;
  std::uint32_t version = kFirstCandidate;  // the version it concerns
};

struct Event {
  std::uint64_t seq = 0;
  std::uint64_t unix_ns = 0;
  std::uint64_t monotonic_ms = 0;
  std::uint64_t config_generation = 0;
  std::uint32_t share_before_bp = 0;
  std::uint32_t share_after_bp = 0;
  EventKind kind = EventKind::none;
  DeploymentState from = DeploymentState::running;
  DeploymentState to = DeploymentState::running;
  std::uint32_t latency_ms = 0;
  std::uint32_t version = kFirstCandidate;  // the index of the version it concerns
  std::string version_name;
  std::string actor;
  std::string reason;
  std::string details_json;
  // Not in the segment: how many events before this one the log overwrote before the aggregator
  // read them (it says so with the next event it delivers).
  std::uint64_t lost_before = 0;
};

// Writes the event with the next sequence number. The caller holds the config lock.
void append_event(Segment& segment, Event event);

// Complete events with seq > after, oldest first. Entries overwritten or half-written meanwhile,
// or whose fields are out of range, are left out.
std::vector<Event> read_events(const Segment& segment, std::uint64_t after = 0);

}  // namespace canary
