// SPDX-License-Identifier: Apache-2.0
#include "canary/health.hpp"

#include "canary/clock.hpp"

namespace canary {

void FailureCounter::record(std::string error) {
  std::lock_guard lock(mutex_);
  ++view_.total;
  view_.last_unix_ns = unix_now_ns();
  view_.last_error = std::move(error);
}

FailureCounter::View FailureCounter::view() const {
  std::lock_guard lock(mutex_);
  return view_;
}

}  // namespace canary
