// SPDX-License-Identifier: Apache-2.0
// Word-by-word copies to and from shared memory through atomic accesses. A seqlock reader may read
// words a writer is changing; doing it through atomics keeps that a defined (if discarded) read
// rather than a data race, and ThreadSanitizer agrees.
//
// The orders replace the usual seqlock fences (which ThreadSanitizer cannot model): a writer's
// release store of a word keeps its earlier "seq is odd" store before it, and a reader's acquire
// load of a word keeps its later re-read of seq after it. So a reader that saw any word of a new
// write also sees that write's odd seq. On x86 both are plain moves.
#pragma once

#include <cstddef>
#include <cstdint>

namespace canary::detail {

inline void load_words(const void* shared_src, void* local_dst, std::size_t bytes) noexcept {
  auto* src = static_cast<const std::uint64_t*>(shared_src);
  auto* dst = static_cast<std::uint64_t*>(local_dst);
  for (std::size_t i = 0; i < bytes / 8; ++i) dst[i] = __atomic_load_n(src + i, __ATOMIC_ACQUIRE);
}

inline void store_words(void* shared_dst, const void* local_src, std::size_t bytes) noexcept {
  auto* dst = static_cast<std::uint64_t*>(shared_dst);
  auto* src = static_cast<const std::uint64_t*>(local_src);
  for (std::size_t i = 0; i < bytes / 8; ++i) __atomic_store_n(dst + i, src[i], __ATOMIC_RELEASE);
}

}  // namespace canary::detail
