// SPDX-License-Identifier: Apache-2.0
// The decision engine's part of the checkpoint keeps its times as ages: the monotonic clock its
// ticks read restarts with the machine, and an instant from before a reboot would make "how long
// the gate has held" wrap to centuries (a bake skipped) or freeze the rolling blocks.
#include <gtest/gtest.h>

#include <cstring>

#include "canary/byte_io.hpp"
#include "canary/decision/engine.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

// Field offsets in the engine's bytes: step key, rollout key, gate held, blocks, then the step's
// sequence and age.
constexpr std::size_t kGateHeld = 16;
constexpr std::size_t kStepAge = 40;

std::uint64_t field(const std::string& bytes, std::size_t at) {
  std::uint64_t v = 0;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}
void set_field(std::string& bytes, std::size_t at, std::uint64_t v) { std::memcpy(bytes.data() + at, &v, sizeof v); }

// Restores `bytes` into a new engine at `restored_at`, and writes it again at `written_at`.
std::string round_trip(Segment& segment, const std::string& bytes, std::uint64_t restored_at, std::uint64_t written_at) {
  DecisionEngine engine(segment, Policy{}, 1000);
  ByteReader in(bytes);
  EXPECT_TRUE(engine.deserialize(in, restored_at));
  ByteWriter out;
  engine.serialize(out, written_at);
  return std::move(out.out());
}

TEST(EngineCheckpoint, TimesAreAgesSoARebootNeverMakesADurationWrap) {
  testing::ScratchSegment scratch("engine");
  DecisionEngine engine(scratch.segment(), Policy{}, 1000);
  ByteWriter out;
  engine.serialize(out, 1'000'000);
  std::string bytes = std::move(out.out());
  EXPECT_EQ(field(bytes, kGateHeld), 0u) << "the gate does not hold: 0";
  set_field(bytes, kGateHeld, 1 + 5000);  // held for 5 s when written
  set_field(bytes, kStepAge, 20'000);     // a step 20 s old

  // The same machine, 300 ms after the restore: 5.3 s held, the step 20.3 s old.
  std::string later = round_trip(scratch.segment(), bytes, 10'000'000, 10'000'300);
  EXPECT_EQ(field(later, kGateHeld), 1 + 5300u);
  EXPECT_EQ(field(later, kStepAge), 20'300u);

  // After a reboot the clock reads 2 s: the durations are cut to what the clock can hold, never
  // wrapped (the old format kept instants: 2,000 - 9,995,000 ms).
  std::string rebooted = round_trip(scratch.segment(), bytes, 2000, 2000);
  EXPECT_LE(field(rebooted, kGateHeld), 1 + 2000u);
  EXPECT_GE(field(rebooted, kGateHeld), 1u) << "it still holds";
  EXPECT_LE(field(rebooted, kStepAge), 2000u);
}

}  // namespace
}  // namespace canary
