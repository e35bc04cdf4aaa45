// SPDX-License-Identifier: Apache-2.0
// Readers against a writer in another process, with reader threads: built and run under
// ThreadSanitizer in CI as well.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "canary/config.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/router.hpp"
#include "process.hpp"
#include "scratch_segment.hpp"
#include "stamped_config.hpp"

namespace canary {
namespace {

using namespace std::chrono_literals;
using testing::fork_child;
using testing::is_whole;
using testing::kill_child;
using testing::ScratchSegment;
using testing::stamp;

constexpr std::uint32_t kCapacity = 16;

std::uint64_t published(Segment& s) { return s.config().published.load(std::memory_order_acquire); }

TEST(Config, ReadersNeverSeeATornConfigWhileAWriterRewritesItInALoop) {
  ScratchSegment s("torn");
  const std::uint64_t start = published(s.segment());
  // The writer holds the lock once and republishes as fast as it can: the worst case for readers.
  const pid_t writer = fork_child([&] {
    auto seg = Segment::attach(s.name(), Access::read_write);
    if (!seg || !lock_byte(seg->fd(), kConfigLockByte, 1s).ok()) return 2;
    auto c = std::make_unique<ConfigData>();
    if (!read_config(seg->config(), *c, kCapacity).ok) return 3;
    const auto until = std::chrono::steady_clock::now() + 3s;
    for (std::uint64_t k = 1; std::chrono::steady_clock::now() < until; ++k) {
      stamp(*c, k);
      publish_config(seg->config(), *c);
    }
    return 0;
  });
  while (published(s.segment()) < start + 10) std::this_thread::yield();

  struct Counts {
    std::uint64_t reads = 0, whole = 0, gave_up = 0, torn = 0, max_attempts = 0, route_calls = 0;
  };
  auto read_for_a_second = [&](Counts& n) {
    auto c = std::make_unique<ConfigData>();
    auto router = std::make_unique<Router>();
    router->bind(&s.segment().config(), kCapacity);
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < until) {
      const ConfigRead r = read_config(s.segment().config(), *c, kCapacity);
      ++n.reads;
      n.max_attempts = std::max<std::uint64_t>(n.max_attempts, r.attempts);
      if (!r.ok) {
        ++n.gave_up;
        continue;
      }
      ++n.whole;
      if (!is_whole(*c)) ++n.torn;
      router->route("user-42", EndpointId{1});
      ++n.route_calls;
    }
  };
  Counts a, b;
  std::thread ta(read_for_a_second, std::ref(a));
  std::thread tb(read_for_a_second, std::ref(b));
  ta.join();
  tb.join();
  const std::uint64_t generations = published(s.segment()) - start;
  kill_child(writer);

  for (const Counts* n : {&a, &b}) {
    EXPECT_EQ(n->torn, 0u);
    EXPECT_LE(n->max_attempts, kConfigReadAttempts);
    EXPECT_GT(n->whole, 0u);
    std::printf("reader: %llu reads, %llu whole, %llu gave up after %u attempts, max attempts %llu; "
                "writer published %llu generations meanwhile\n",
                static_cast<unsigned long long>(n->reads), static_cast<unsigned long long>(n->whole),
                static_cast<unsigned long long>(n->gave_up), kConfigReadAttempts,
                static_cast<unsigned long long>(n->max_attempts), static_cast<unsigned long long>(generations));
  }
  EXPECT_GT(generations, 100u);
}

}  // namespace
}  // namespace canary
