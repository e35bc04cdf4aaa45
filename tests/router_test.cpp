// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "canary/config.hpp"
#include "canary/router.hpp"
#include "canary/versions.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::ScratchSegment;

constexpr std::uint32_t kCapacity = 16;
constexpr EndpointId kPersonalized = 1;  // the first seed endpoint

std::vector<std::string> uuids(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    char text[40];
    const std::uint64_t a = rng(), b = rng();
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>(a >> 16 & 0xffff), static_cast<unsigned>(a & 0xffff),
                  static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
    ids.emplace_back(text);
  }
  return ids;
}

void change(ScratchSegment& s, const std::function<Status(ConfigData&)>& edit) {
  Status st = update_config(s.segment(), "router test", edit);
  ASSERT_TRUE(st.ok()) << st.message();
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() { router->bind(&seg.segment().config(), kCapacity); }
  ScratchSegment seg{"router"};
  std::unique_ptr<Router> router = std::make_unique<Router>();
};

TEST_F(RouterTest, FivePercentOfRandomIdsLandInTheCanaryWithinPointThreePoints) {
  const auto ids = uuids(100000, 1);
  std::size_t canary = 0;
  for (const auto& id : ids) canary += router->route(id, kPersonalized).version == Version::canary;
  const double share = 100.0 * static_cast<double>(canary) / static_cast<double>(ids.size());
  EXPECT_NEAR(share, 5.0, 0.3) << canary << " of " << ids.size();
}

TEST_F(RouterTest, TheBucketIsXxh3OfTheIdSeededWithTheSaltModuloTenThousand) {
  change(seg, [](ConfigData& c) { return set_salt(c, 987654321); });
  for (const auto& id : uuids(2000, 2)) {
    const std::uint64_t h = XXH3_64bits_withSeed(id.data(), id.size(), 987654321);
    const Decision d = router->route(id, kPersonalized);
    EXPECT_EQ(d.user_hash, h);
    EXPECT_EQ(d.version == Version::canary, h % 10000 < 500) << id;
  }
}

TEST_F(RouterTest, RaisingTheShareKeepsEveryCanaryUserInTheCanary) {
  const auto ids = uuids(50000, 3);
  std::vector<std::string> at5;
  for (const auto& id : ids)
    if (router->route(id, kPersonalized).version == Version::canary) at5.push_back(id);
  change(seg, [](ConfigData& c) { return set_share(c, 1000); });
  std::size_t at10 = 0;
  for (const auto& id : ids) at10 += router->route(id, kPersonalized).version == Version::canary;
  for (const auto& id : at5) EXPECT_EQ(router->route(id, kPersonalized).version, Version::canary) << id;
  EXPECT_GT(at10, at5.size());
}

TEST_F(RouterTest, Md5ModeMatchesPythonHashlibBucketsExactly) {
  // python3 -c "import hashlib; print(int(hashlib.md5(u.encode()).hexdigest(), 16) % 100)"
  const std::vector<std::pair<std::string, std::uint32_t>> python = {
      {"test_canary_user", 51}, {"alice", 0},  {"bob", 32},  {"user-1", 20},
      {"user-2", 75},           {"0", 50},     {std::string(1024, 'x'), 33},
      {"550e8400-e29b-41d4-a716-446655440000", 65}, {"h\xc3\xa9llo", 8}, {"a b", 92},
  };
  for (const auto& [id, bucket] : python) EXPECT_EQ(md5_bucket(id), bucket) << id.substr(0, 20);

  change(seg, [](ConfigData& c) {
    Status st = set_hash_mode(c, HashMode::md5);
    return st.ok() ? set_share(c, 5100) : st;
  });
  // canary iff bucket < 51: "test_canary_user" (51) is legacy, "alice" (0) and "user-1" (20) canary.
  EXPECT_EQ(router->route("test_canary_user", kPersonalized).version, Version::legacy);
  EXPECT_EQ(router->route("alice", kPersonalized).version, Version::canary);
  EXPECT_EQ(router->route("user-1", kPersonalized).version, Version::canary);
  EXPECT_EQ(router->route("user-2", kPersonalized).version, Version::legacy);
}

TEST_F(RouterTest, Md5ModeTakesWholePercentsOnly) {
  ConfigData c;
  ASSERT_TRUE(read_config(seg.segment().config(), c, kCapacity).ok);
  ASSERT_TRUE(set_share(c, 550).ok());
  EXPECT_EQ(set_hash_mode(c, HashMode::md5).code(), Errc::invalid_argument);
  ASSERT_TRUE(set_share(c, 500).ok());
  ASSERT_TRUE(set_hash_mode(c, HashMode::md5).ok());
  EXPECT_EQ(set_share(c, 525).code(), Errc::invalid_argument);
}

TEST_F(RouterTest, DisabledRoutesEveryoneLegacyButStillHashes) {
  change(seg, [](ConfigData& c) {
    Status st = set_share(c, 10000);
    return st.ok() ? set_enabled(c, false) : st;
  });
  const Decision d = router->route("anyone", kPersonalized);
  EXPECT_EQ(d.version, Version::legacy);
  EXPECT_NE(d.user_hash, 0u);
  EXPECT_FALSE(router->is_canary_user("anyone"));
}

TEST_F(RouterTest, EmptyAndOversizedIdsRouteLegacy) {
  change(seg, [](ConfigData& c) { return set_share(c, 10000); });
  EXPECT_EQ(router->route("", kPersonalized).version, Version::legacy);
  EXPECT_EQ(router->route(std::string(kMaxUserIdBytes + 1, 'u'), kPersonalized).version, Version::legacy);
  EXPECT_EQ(router->route(std::string(kMaxUserIdBytes, 'u'), kPersonalized).version, Version::canary);
}

TEST_F(RouterTest, EndpointsWithoutTheCanaryFlagAndUnknownIdsRouteLegacy) {
  change(seg, [](ConfigData& c) {
    Status st = set_share(c, 10000);
    return st.ok() ? remove_endpoint(c, "/api/v2/recommend/compare") : st;
  });
  EXPECT_EQ(router->route("u", EndpointId{1}).version, Version::canary);
  EXPECT_EQ(router->route("u", EndpointId{2}).version, Version::legacy);  // removed: flag off
  EXPECT_EQ(router->route("u", kOtherEndpoint).version, Version::legacy);
  EXPECT_EQ(router->route("u", EndpointId{9999}).version, Version::legacy);
  EXPECT_TRUE(router->is_canary_user("u"));  // ignores endpoints
}

TEST_F(RouterTest, PinsWinOverBucketsButNotOverDisabledOrARollback) {
  change(seg, [](ConfigData& c) {
    Status st = set_share(c, 0);
    if (st.ok()) st = pin_user(c, "pinned-canary", Version::canary);
    return st.ok() ? pin_user(c, "pinned-legacy", Version::legacy) : st;
  });
  EXPECT_EQ(router->route("pinned-canary", kPersonalized).version, Version::canary);
  EXPECT_TRUE(router->is_canary_user("pinned-canary"));
  change(seg, [](ConfigData& c) { return set_share(c, 10000); });
  EXPECT_EQ(router->route("pinned-legacy", kPersonalized).version, Version::legacy);
  EXPECT_EQ(router->route("someone-else", kPersonalized).version, Version::canary);

  change(seg, [](ConfigData& c) { return set_enabled(c, false); });
  EXPECT_EQ(router->route("pinned-canary", kPersonalized).version, Version::legacy);
  change(seg, [](ConfigData& c) {
    c.enabled = 1;
    c.versions[kFirstCandidate].state = static_cast<std::uint8_t>(DeploymentState::rolled_back);
    return allot_share(c, kFirstCandidate, 0);
  });
  EXPECT_EQ(router->route("pinned-canary", kPersonalized).version, Version::legacy);

  change(seg, [](ConfigData& c) {
    c.versions[kFirstCandidate].state = static_cast<std::uint8_t>(DeploymentState::running);
    return unpin_user(c, "pinned-canary");
  });
  EXPECT_EQ(router->route("pinned-canary", kPersonalized).version, Version::legacy);
}

TEST_F(RouterTest, PinTableHoldsSixtyFourAndRefusesMore) {
  ConfigData c;
  ASSERT_TRUE(read_config(seg.segment().config(), c, kCapacity).ok);
  for (std::uint32_t i = 0; i < kMaxOverrides; ++i) ASSERT_TRUE(pin_user(c, "u" + std::to_string(i), Version::canary).ok());
  EXPECT_EQ(pin_user(c, "one-more", Version::canary).code(), Errc::refused);
  EXPECT_TRUE(pin_user(c, "u3", Version::legacy).ok());  // re-pinning changes the version in place
  EXPECT_EQ(c.override_count, kMaxOverrides);
  EXPECT_EQ(unpin_user(c, "nobody").code(), Errc::invalid_argument);
  EXPECT_EQ(pin_user(c, "", Version::canary).code(), Errc::invalid_argument);
  EXPECT_EQ(pin_user(c, std::string(1025, 'x'), Version::canary).code(), Errc::invalid_argument);
}

TEST_F(RouterTest, RawPathsMatchTemplatesAndUnknownPathsAreOther) {
  EXPECT_EQ(router->resolve("/api/v2/recommend/personalized"), 1);
  EXPECT_EQ(router->resolve("/api/v2/conversations/start"), 3);  // literal beats {session_id}
  EXPECT_EQ(router->resolve("/api/v2/conversations/abc/turn"), 4);
  EXPECT_EQ(router->resolve("/api/v2/conversations/abc"), 5);
  EXPECT_EQ(router->resolve("/api/v2/conversations/abc/close"), 6);
  EXPECT_EQ(router->resolve("/api/v2/conversations"), 7);
  EXPECT_EQ(router->resolve("/api/v2/conversations/"), 7);         // trailing slash
  EXPECT_EQ(router->resolve("/api/v2/conversations?x=1&y=/"), 7);  // query ignored
  EXPECT_EQ(router->resolve("/api/v2/conversations/abc/turn/"), 4);
  EXPECT_EQ(router->resolve("/api/v2/conversations//turn"), kOtherEndpoint);  // empty parameter
  EXPECT_EQ(router->resolve("/api/v2/unknown"), kOtherEndpoint);
  EXPECT_EQ(router->resolve("api/v2/conversations"), kOtherEndpoint);
  EXPECT_EQ(router->resolve(""), kOtherEndpoint);
  EXPECT_EQ(router->resolve("/" + std::string(kMaxPathBytes, 'a')), kOtherEndpoint);

  change(seg, [](ConfigData& c) { return set_share(c, 10000); });
  EXPECT_EQ(router->route("u", std::string_view("/nowhere")).version, Version::legacy);
  const Decision d = router->route("u", std::string_view("/api/v2/conversations/xyz/turn"));
  EXPECT_EQ(d.endpoint, 4);
  EXPECT_EQ(d.version, Version::canary);
}

TEST_F(RouterTest, ANewTemplateIsMatchedFromTheNextRequestOnAndIdsStayStable) {
  EXPECT_EQ(router->resolve("/api/v2/new_feature/7"), kOtherEndpoint);
  change(seg, [](ConfigData& c) { return add_endpoint(c, "/api/v2/new_feature/{id}", kCapacity); });
  EXPECT_EQ(router->resolve("/api/v2/new_feature/7"), 8);
  // Same shape, another parameter name: the same endpoint.
  change(seg, [](ConfigData& c) { return remove_endpoint(c, "/api/v2/new_feature/{other_name}"); });
  EXPECT_EQ(router->resolve("/api/v2/new_feature/7"), 8);  // still matched, id kept, flag off
  change(seg, [](ConfigData& c) { return set_share(c, 10000); });
  EXPECT_EQ(router->route("u", EndpointId{8}).version, Version::legacy);
  change(seg, [](ConfigData& c) { return add_endpoint(c, "/api/v2/new_feature/{id}/", kCapacity); });
  EXPECT_EQ(router->route("u", EndpointId{8}).version, Version::canary);
}

TEST_F(RouterTest, AnUnboundRouterFailsOpenToLegacy) {
  Router detached;
  EXPECT_EQ(detached.route("u", kPersonalized).version, Version::legacy);
  EXPECT_EQ(detached.resolve("/api/v2/conversations"), kOtherEndpoint);
  EXPECT_FALSE(detached.is_canary_user("u"));
}

}  // namespace
}  // namespace canary
