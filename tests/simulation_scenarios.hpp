// SPDX-License-Identifier: Apache-2.0
// Scenarios more than one simulation runs: a healthy canary and a broken one.
#pragma once

#include "decision_simulation.hpp"

namespace canary::simulation {

// As legacy: 0.5% errors, 0.2% unavailable, 200 ms median; an hour, checked every second.
inline Scenario healthy() {
  Scenario s;
  s.evaluate_gate = false;
  return s;
}

// 5.5% errors against legacy's 0.1%, until 2,000 canary requests.
inline Scenario broken() {
  Scenario s;
  s.seconds = 12 * 3600;
  s.legacy.error_rate = 0.001;
  s.legacy.unavailable_rate = 0.0004;
  s.canary.error_rate = 0.055;
  s.canary.unavailable_rate = 0.0;  // plain 500s: availability does not give it away
  s.stop_after_canary = 2000;
  s.evaluate_gate = false;
  return s;
}

}  // namespace canary::simulation
