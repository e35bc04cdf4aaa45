// SPDX-License-Identifier: Apache-2.0
#include "canary/summary.hpp"

#include "canary/detail/two_copy.hpp"
#include "canary/segment.hpp"

namespace canary {

void publish_summary(Segment& segment, SummaryData& next) noexcept { detail::publish_two_copy(segment.summary(), next); }

bool read_summary(const Segment& segment, SummaryData& out) noexcept {
  const SummaryBlock& block = segment.summary();
  // acquire: pairs with the publisher's release; 0 means nothing was ever published.
  if (block.published.load(std::memory_order_acquire) == 0) return false;
  return detail::read_two_copy(block, out, kSummaryReadAttempts, [](const SummaryData& s) {
           return s.endpoint_count <= kMaxEndpoints && s.generated_unix_ns != 0;
         }) != 0;
}

}  // namespace canary
