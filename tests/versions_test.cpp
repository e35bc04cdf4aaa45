// SPDX-License-Identifier: Apache-2.0
// Versions: the table's rules, the routing invariant over random sequences of share changes, the
// observed shares, pins to any version, promotion and the blue-green switch.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "canary/bucket.hpp"
#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/deployment.hpp"
#include "canary/fixed_text.hpp"
#include "canary/router.hpp"
#include "canary/versions.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::ScratchSegment;

std::unique_ptr<ConfigData> initial(std::uint32_t share_bp = 500) {
  InitialConfig init;
  init.share_bp = share_bp;
  return std::make_unique<ConfigData>(*make_initial_config(init, 16));
}

TEST(Versions, NamesAreOneTo31BytesOfLowercaseDigitsDotsDashesAndUnderscores) {
  EXPECT_TRUE(version_name_problem("canary2").empty());
  EXPECT_TRUE(version_name_problem("v1.2_rc-3").empty());
  EXPECT_FALSE(version_name_problem("").empty());
  EXPECT_FALSE(version_name_problem("Canary").empty());
  EXPECT_FALSE(version_name_problem("a b").empty());
  EXPECT_FALSE(version_name_problem(std::string(32, 'a')).empty());
  EXPECT_TRUE(version_name_problem(std::string(31, 'a')).empty());
}

TEST(Versions, AddRemoveAndTheirRefusals) {
  auto c = initial();
  auto added = add_version(*c, "canary2", 200);
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(*added, 2u);
  EXPECT_EQ(config_problem(*c, 16, false), nullptr);
  EXPECT_EQ(add_version(*c, "canary2", 0).status().code(), Errc::invalid_argument);  // exists
  EXPECT_EQ(add_version(*c, "Bad", 0).status().code(), Errc::invalid_argument);
  EXPECT_EQ(add_version(*c, "big", 9500).status().code(), Errc::invalid_argument);  // sum above 100%
  EXPECT_EQ(remove_version(*c, "canary2").code(), Errc::refused);  // still has users
  EXPECT_EQ(remove_version(*c, "legacy").code(), Errc::invalid_argument);
  EXPECT_EQ(pick_candidate(*c, "").status().code(), Errc::invalid_argument);  // two candidates: name one
  EXPECT_NE(pick_candidate(*c, "").status().message().find("canary, canary2"), std::string::npos);
  ASSERT_TRUE(set_share(*c, 0, 2).ok());
  ASSERT_TRUE(remove_version(*c, "canary2").ok());
  EXPECT_EQ(pick_candidate(*c, "").value(), 1u);  // the only active one again
  EXPECT_EQ(config_problem(*c, 16, false), nullptr);
  // The retired slot comes back under the same name; other names take new slots, up to 7.
  EXPECT_EQ(add_version(*c, "canary2", 0).value(), 2u);
  for (int i = 3; i < 8; ++i) ASSERT_TRUE(add_version(*c, "c" + std::to_string(i), 0).ok());
  EXPECT_EQ(add_version(*c, "one-too-many", 0).status().code(), Errc::refused);
  EXPECT_EQ(config_problem(*c, 16, false), nullptr);
}

TEST(Versions, Md5ModeHasOneCandidateOnly) {
  auto c = initial();
  ASSERT_TRUE(set_hash_mode(*c, HashMode::md5).ok());
  EXPECT_EQ(add_version(*c, "canary2", 0).status().code(), Errc::refused);
  ASSERT_TRUE(set_hash_mode(*c, HashMode::xxh3).ok());
  ASSERT_TRUE(add_version(*c, "canary2", 0).ok());
  EXPECT_FALSE(set_hash_mode(*c, HashMode::md5).ok());
}

// SPEC section 10's invariant, over random sequences of share changes and 100,000 users: a rise
// moves users only from the baseline to that candidate, a fall only back; never candidate to
// candidate.
TEST(Versions, NoSequenceOfShareChangesMovesAUserFromOneCandidateToAnother) {
  constexpr std::uint32_t kUsers = 100'000;
  std::vector<std::uint32_t> buckets(kUsers);
  for (std::uint32_t u = 0; u < kUsers; ++u) {
    const std::string id = "user-" + std::to_string(u);
    buckets[u] = xxh3_bucket(user_hash(id, 0));
  }
  std::mt19937_64 rng(12);
  for (int sequence = 0; sequence < 60; ++sequence) {
    auto c = initial(0);
    const std::uint32_t candidates = 2 + sequence % 6;  // 2..7
    for (std::uint32_t k = 2; k <= candidates; ++k) ASSERT_TRUE(add_version(*c, "c" + std::to_string(k), 0).ok());
    std::vector<std::uint8_t> before(kUsers, 0);
    for (int change = 0; change < 100; ++change) {
      const std::uint32_t k = 1 + static_cast<std::uint32_t>(rng() % candidates);
      std::uint32_t others = 0;
      for (std::uint32_t v = 1; v < kMaxVersions; ++v) others += v == k ? 0 : c->versions[v].share_bp;
      const std::uint32_t old_share = c->versions[k].share_bp;
      const std::uint32_t share = static_cast<std::uint32_t>(rng() % (kMaxShareBp - others + 1));
      ASSERT_TRUE(set_share(*c, share, k).ok());
      ASSERT_EQ(allotment_problem(*c), nullptr);
      for (std::uint32_t u = 0; u < kUsers; ++u) {
        const std::uint8_t now = c->bucket_owner[buckets[u]];
        if (now != before[u]) {
          ASSERT_TRUE(share > old_share ? before[u] == kBaseline && now == k : before[u] == k && now == kBaseline)
              << "user " << u << " moved from " << int(before[u]) << " to " << int(now) << " when candidate " << k
              << " went from " << old_share << " to " << share;
        }
        before[u] = now;
      }
    }
  }
}

// Through a real router on a segment: each candidate's observed share within 0.65 points of its
// setting (4 standard deviations at 100,000 users).
TEST(Versions, EachCandidatesObservedShareMatchesItsSetting) {
  ScratchSegment s("shares");
  const std::uint32_t wanted[] = {0, 1000, 200, 3500, 50};
  ASSERT_TRUE(update_config(s.segment(), "test", [&](ConfigData& c) {
                for (std::uint32_t k = 2; k < 5; ++k)
                  if (auto added = add_version(c, "c" + std::to_string(k), 0); !added) return added.status();
                // Up and down first, so the allotment is fragmented as a real rollout leaves it.
                for (std::uint32_t k = 1; k < 5; ++k)
                  if (Status st = set_share(c, 2000, k); !st.ok()) return st;
                for (std::uint32_t k = 1; k < 5; ++k)
                  if (Status st = set_share(c, wanted[k], k); !st.ok()) return st;
                return Status::Ok();
              }).ok());
  auto router = std::make_unique<Router>();
  router->bind(&s.segment().config(), 16);
  std::uint32_t seen[kMaxVersions] = {};
  constexpr std::uint32_t kUsers = 100'000;
  for (std::uint32_t u = 0; u < kUsers; ++u) ++seen[static_cast<std::uint32_t>(router->route("u" + std::to_string(u), 1).version)];
  for (std::uint32_t k = 1; k < 5; ++k) {
    const double observed = 100.0 * seen[k] / kUsers;
    EXPECT_NEAR(observed, wanted[k] / 100.0, 0.65) << "candidate " << k;
    EXPECT_EQ(router->version_name(static_cast<Version>(k)), k == 1 ? "canary" : "c" + std::to_string(k));
  }
}

TEST(Versions, PinsReachAnyVersionAndPromotionTakesEveryoneAndSupersedesTheOthers) {
  ScratchSegment s("pins");
  ASSERT_TRUE(update_config(s.segment(), "test", [](ConfigData& c) {
                if (auto added = add_version(c, "canary2", 1000); !added) return added.status();
                return pin_user(c, "pinned", 2u);
              }).ok());
  auto router = std::make_unique<Router>();
  router->bind(&s.segment().config(), 16);
  EXPECT_EQ(router->route("pinned", 1).version, static_cast<Version>(2));
  EXPECT_EQ(router->find_version("canary2"), static_cast<Version>(2));
  EventDraft e;
  ASSERT_TRUE(update_config(s.segment(), "test", [&](ConfigData& c) { return promote(c, true, false, "", e, 2); }).ok());
  auto c = std::make_unique<ConfigData>();
  ASSERT_TRUE(read_config(s.segment().config(), *c, 16).ok);
  EXPECT_EQ(c->versions[2].share_bp, kMaxShareBp);
  EXPECT_EQ(c->versions[1].share_bp, 0u);
  EXPECT_EQ(static_cast<DeploymentState>(c->versions[1].state), DeploymentState::rolled_back);
  EXPECT_EQ(std::string(c->versions[1].state_reason), "superseded by canary2");
  for (int u = 0; u < 1000; ++u) ASSERT_EQ(router->route("u" + std::to_string(u), 1).version, static_cast<Version>(2));
}

// SPEC section 10: after a promotion the next start judges against the promoted version (or, when
// named, the old baseline, and then everyone goes back to it).
TEST(Versions, AfterAPromotionTheNextStartUsesThePromotedVersionAsTheBaseline) {
  for (bool back_to_legacy : {false, true}) {
    auto c = initial();
    ASSERT_TRUE(add_version(*c, "canary2", 2000).ok());
    EventDraft e;
    ASSERT_TRUE(promote(*c, true, false, "", e, 2).ok());
    ASSERT_TRUE(add_version(*c, "canary3", 0).ok());
    StartOptions options;
    if (back_to_legacy) options.baseline = kBaseline;
    ASSERT_TRUE(start_rollout(*c, options, "", e, 3).ok());
    ASSERT_EQ(config_problem(*c, 16, false), nullptr);
    EXPECT_EQ(c->versions[3].share_bp, 500u);
    EXPECT_EQ(c->baseline, back_to_legacy ? kBaseline : 2u);
    const std::uint32_t other = back_to_legacy ? 2u : kBaseline;  // the one that no longer serves
    EXPECT_EQ(static_cast<DeploymentState>(c->versions[other].state), DeploymentState::rolled_back);
    std::uint32_t owned[kMaxVersions] = {};
    for (std::uint8_t owner : c->bucket_owner) ++owned[owner];
    EXPECT_EQ(owned[c->baseline], 9500u);
    EXPECT_EQ(owned[3], 500u);
    EXPECT_EQ(pick_candidate(*c, "").status().code(), Errc::invalid_argument);  // legacy/canary2 and canary3
    if (!back_to_legacy) {
      EXPECT_EQ(pick_candidate(*c, "canary2").status().code(), Errc::invalid_argument);  // the baseline now
      EXPECT_EQ(std::string(c->versions[kBaseline].state_reason), "replaced as the baseline by canary2");
      EXPECT_TRUE(start_rollout(*c, {}, "", e, kBaseline).ok());  // legacy can come back as a candidate
      EXPECT_EQ(config_problem(*c, 16, false), nullptr);
    }
  }
  // Only the current baseline or the promoted version can be named.
  auto c = initial();
  ASSERT_TRUE(add_version(*c, "canary2", 0).ok());
  StartOptions options;
  options.baseline = 2;
  EventDraft e;
  EXPECT_EQ(start_rollout(*c, options, "", e, 1).code(), Errc::invalid_argument);
}

TEST(Versions, ASwitchSendsEveryoneToOneVersionAndBackRestoresTheShares) {
  ScratchSegment s("switch");
  auto router = std::make_unique<Router>();
  router->bind(&s.segment().config(), 16);
  std::vector<Version> before;
  for (int u = 0; u < 2000; ++u) before.push_back(router->route("u" + std::to_string(u), 1).version);
  EventDraft e;
  ASSERT_TRUE(update_config(s.segment(), "test", [&](ConfigData& c) { return switch_to(c, 1, "", e); }, &e).ok());
  EXPECT_EQ(e.kind, EventKind::switched);
  for (int u = 0; u < 2000; ++u) ASSERT_EQ(router->route("u" + std::to_string(u), 1).version, Version::canary);
  EXPECT_EQ(router->route("u1", kOtherEndpoint).version, Version::legacy);  // `other` is never routed
  ASSERT_TRUE(update_config(s.segment(), "test", [&](ConfigData& c) { return switch_back(c, "", e); }, &e).ok());
  for (int u = 0; u < 2000; ++u) ASSERT_EQ(router->route("u" + std::to_string(u), 1).version, before[u]);
  EXPECT_EQ(update_config(s.segment(), "test", [&](ConfigData& c) { return switch_back(c, "", e); }).code(), Errc::refused);
}

TEST(Versions, RollingBackTheVersionEveryoneIsSwitchedToEndsTheSwitch) {
  auto c = initial();
  EventDraft e;
  ASSERT_TRUE(switch_to(*c, kFirstCandidate, "", e).ok());
  ASSERT_TRUE(roll_back(*c, "bad", e).ok());
  EXPECT_EQ(c->switched, 0);
  EXPECT_EQ(config_problem(*c, 16, false), nullptr);
  for (std::uint8_t owner : c->bucket_owner) ASSERT_EQ(owner, kBaseline);
}

TEST(Versions, AHostileVersionTableIsRefusedByReaders) {
  auto c = initial();
  ASSERT_TRUE(add_version(*c, "canary2", 100).ok());
  auto broken = std::make_unique<ConfigData>(*c);
  broken->bucket_owner[9999] = 7;  // an owner outside the table
  EXPECT_NE(config_problem(*broken, 16, false), nullptr);
  *broken = *c;
  broken->versions[2].share_bp += 1;  // disagrees with its buckets
  EXPECT_NE(config_problem(*broken, 16, false), nullptr);
  *broken = *c;
  set_text(broken->versions[2].name, "canary");  // a duplicate name
  EXPECT_NE(config_problem(*broken, 16, false), nullptr);
  *broken = *c;
  broken->version_count = 9;
  EXPECT_NE(config_problem(*broken, 16, false), nullptr);
}

}  // namespace
}  // namespace canary
