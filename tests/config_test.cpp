// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "canary/config.hpp"
#include "canary/fixed_text.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/router.hpp"
#include "process.hpp"
#include "stamped_config.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using namespace std::chrono_literals;
using testing::fork_child;
using testing::kill_child;
using testing::ScratchSegment;
using testing::is_whole;
using testing::stamp;

constexpr std::uint32_t kCapacity = 16;

std::uint64_t published(Segment& s) { return s.config().published.load(std::memory_order_acquire); }

TEST(Config, UpdateBumpsTheGenerationAndRecordsWhoAndWhen) {
  ScratchSegment s("update");
  ASSERT_TRUE(update_config(s.segment(), "tester", [](ConfigData& c) {
                stamp(c, 7);
                return Status::Ok();
              }).ok());
  ConfigData c;
  ASSERT_TRUE(read_config(s.segment().config(), c, kCapacity).ok);
  EXPECT_EQ(c.generation, 2u);
  EXPECT_EQ(text_of(c.changed_by), "tester");
  EXPECT_GT(c.changed_unix_ns, 0u);
  EXPECT_TRUE(is_whole(c));
}

TEST(Config, ARefusedChangeLeavesTheConfigAsItWas) {
  ScratchSegment s("refused");
  const std::uint64_t before = published(s.segment());
  Status st = update_config(s.segment(), "tester", [](ConfigData& c) {
    c.versions[1].share_bp = 1;
    return Status{Errc::invalid_argument, "no"};
  });
  EXPECT_EQ(st.code(), Errc::invalid_argument);
  // A change that would leave an invalid config is refused too.
  st = update_config(s.segment(), "tester", [](ConfigData& c) {
    c.versions[1].share_bp = 20000;
    return Status::Ok();
  });
  EXPECT_EQ(st.code(), Errc::invalid_argument);
  EXPECT_EQ(published(s.segment()), before);
  ConfigData c;
  ASSERT_TRUE(read_config(s.segment().config(), c, kCapacity).ok);
  EXPECT_EQ(c.versions[1].share_bp, 500u);
}

TEST(Config, AReaderRefusesACopyWhoseChecksumIsWrong) {
  ScratchSegment s("checksum");
  ConfigBlock& block = s.segment().config();
  ConfigCopy& copy = block.copies[published(s.segment()) % 2];
  copy.data.versions[1].share_bp ^= 1;  // a flipped bit, as a faulty process would leave it
  ConfigData c;
  const ConfigRead r = read_config(block, c, kCapacity);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, kConfigReadAttempts);
}

TEST(Config, AWriterKilledMidUpdateLeavesTheLastCompleteConfigAndReleasesTheLock) {
  ScratchSegment s("kill");
  std::mt19937 rng(12345);
  int killed_mid_copy = 0;
  // At least 100 rounds, and on until some kill landed inside a copy (a few in 100 do on an idle
  // machine; under a sanitizer on a busy one it can take more), at most 2,000.
  int round = 0;
  for (; round < 2000 && (round < 100 || killed_mid_copy == 0); ++round) {
    const std::uint64_t before = published(s.segment());
    const pid_t writer = fork_child([&] {
      auto seg = Segment::attach(s.name(), Access::read_write);
      if (!seg) return 2;
      for (std::uint64_t k = 1;; ++k) {
        Status st = update_config(*seg, "doomed writer", [&](ConfigData& c) {
          stamp(c, k);
          return Status::Ok();
        });
        if (!st.ok()) return 3;
      }
    });
    while (published(s.segment()) < before + 2) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    kill_child(writer);

    ConfigBlock& block = s.segment().config();
    const std::uint64_t last = published(s.segment());
    if (block.copies[(last + 1) % 2].seq.load() % 2 == 1) ++killed_mid_copy;

    ConfigData c;
    ASSERT_TRUE(read_config(block, c, kCapacity).ok) << "round " << round;
    EXPECT_EQ(c.generation, last);
    EXPECT_TRUE(is_whole(c));
    // The kernel released the dead writer's lock: the next writer proceeds at once.
    Status st = update_config(s.segment(), "next writer", [](ConfigData& cfg) {
      stamp(cfg, 1000000);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(published(s.segment()), last + 1);
  }
  std::printf("writer killed inside the copy in %d of %d rounds\n", killed_mid_copy, round);
  EXPECT_GT(killed_mid_copy, 0);
}

}  // namespace
}  // namespace canary
