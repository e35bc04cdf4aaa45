// SPDX-License-Identifier: Apache-2.0
// Publishing a struct that readers must never see half-written, and that a writer killed at any
// instruction cannot wedge: two copies and a published generation (LMDB's two meta pages), each
// copy guarded by a seqlock (odd while written). The writer fills the copy readers are not sent
// to, then publishes it; a reader takes the published copy, checks its seq before and after, and
// checks the copy's own generation and checksum. Used for the config block and for the
// aggregator's published summary.
//
// Data must be trivially copyable, a multiple of 8 bytes, and have `std::uint64_t generation`
// and `std::uint64_t checksum` members.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "canary/detail/words.hpp"
#include "canary/detail/xxhash.hpp"

namespace canary::detail {

// XXH3-64 of the struct's bytes with the checksum field taken as zero.
template <class Data>
std::uint64_t checksum_of(const Data& d) noexcept {
  constexpr std::size_t at = offsetof(Data, checksum);
  constexpr std::size_t after = at + sizeof(d.checksum);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&d);
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, bytes, at);
  const std::uint64_t zero = 0;
  XXH3_64bits_update(&state, &zero, sizeof zero);
  XXH3_64bits_update(&state, bytes + after, sizeof(Data) - after);
  return XXH3_64bits_digest(&state);
}

// Writes `next` as generation published + 1 into the copy readers are not using and publishes it.
// One writer at a time: the caller holds whatever lock makes it the only one.
template <class Block, class Data>
void publish_two_copy(Block& block, Data& next) noexcept {
  // relaxed: only the single writer stores it, and that is us.
  next.generation = block.published.load(std::memory_order_relaxed) + 1;
  next.checksum = checksum_of(next);
  auto& copy = block.copies[next.generation % 2];
  // A writer that died here left seq odd; `| 1` keeps it odd and the +1 below makes it even.
  const std::uint64_t writing = copy.seq.load(std::memory_order_relaxed) | 1;
  // relaxed: each release word store below keeps this odd seq ordered before it.
  copy.seq.store(writing, std::memory_order_relaxed);
  store_words(&copy.data, &next, sizeof next);
  // release: the data words are visible before seq turns even ...
  copy.seq.store(writing + 1, std::memory_order_release);
  // ... and the copy is complete before readers are sent to it.
  block.published.store(next.generation, std::memory_order_release);
}

// Copies the newest complete copy that `valid(out)` accepts, in at most `attempts` tries. Returns
// the try that succeeded (1-based), or 0. Never blocks.
template <class Block, class Data, class Valid>
std::uint32_t read_two_copy(const Block& block, Data& out, std::uint32_t attempts, Valid&& valid) noexcept {
  for (std::uint32_t attempt = 1; attempt <= attempts; ++attempt) {
    // acquire: pairs with publish_two_copy's release store, so the copy it names is complete.
    const std::uint64_t generation = block.published.load(std::memory_order_acquire);
    const auto& copy = block.copies[generation % 2];
    // acquire: the data words below are read after this seq value.
    const std::uint64_t before = copy.seq.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;  // a writer is filling it (or died doing so)
    // Acquire word loads: if any word came from a newer write, the seq re-read below sees it.
    load_words(&copy.data, &out, sizeof out);
    if (copy.seq.load(std::memory_order_relaxed) != before) continue;  // torn
    if (out.generation < generation || out.checksum != checksum_of(out) || !valid(out)) continue;
    return attempt;
  }
  return 0;
}

}  // namespace canary::detail
