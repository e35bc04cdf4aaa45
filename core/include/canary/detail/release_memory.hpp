// SPDX-License-Identifier: Apache-2.0
// Gives a container's memory back to the allocator. `v = {}` and `v.clear()` keep the capacity: an
// aggregator that keeps thousands of digests and sketches would hold every buffer it ever filled.
#pragma once

namespace canary::detail {

template <class Container>
void release_memory(Container& c) {
  Container().swap(c);
}

}  // namespace canary::detail
