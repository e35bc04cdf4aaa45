// SPDX-License-Identifier: Apache-2.0
// canary-ctl migrate's core: layout-6 and layout-7 segments (written here byte for byte as those
// layouts had them) rebuilt as the current layout under the same name, routing every user as before, and a live
// writer attaching to the new one by itself.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "canary/bucket.hpp"
#include "canary/config.hpp"
#include "canary/detail/two_copy.hpp"
#include "canary/detail/xxhash.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/fixed_text.hpp"
#include "canary/migrate.hpp"
#include "canary/config_edit.hpp"
#include "canary/migrate/layout6.hpp"
#include "canary/migrate/layout7.hpp"
#include "canary/migrate/layout8.hpp"
#include "canary/router.hpp"
#include "canary/segment.hpp"
#include "canary/versions.hpp"
#include "canary/writer.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

const char* const kTemplates[] = {"/api/a", "/api/b/{id}", "/api/c"};

std::unique_ptr<layout6::ConfigData> old_config() {
  auto c = std::make_unique<layout6::ConfigData>();
  std::memset(c.get(), 0, sizeof *c);
  c->salt = 77;
  c->share_bp = 1234;
  c->enabled = 1;
  c->state = static_cast<std::uint8_t>(DeploymentState::paused);
  set_text(c->state_reason, "paused for lunch");
  c->srm_detected = 1;
  c->ramp_count = 3;
  c->ramp_bp[0] = 500, c->ramp_bp[1] = 1000, c->ramp_bp[2] = 10000;
  c->ramp_step = 1;
  c->rollout_started_unix_ns = c->step_started_unix_ns = 1'700'000'000'000'000'000ull;
  set_text(c->endpoints[0].path, "other");
  c->endpoints[0].path_len = 5;
  c->endpoints[0].registered = 1;
  for (int i = 0; i < 3; ++i) {
    layout6::EndpointEntry& e = c->endpoints[i + 1];
    set_text(e.path, kTemplates[i]);
    e.path_len = static_cast<std::uint32_t>(std::strlen(kTemplates[i]));
    e.registered = 1;
    e.canary = i == 1 ? 0 : 1;
  }
  c->endpoint_count = 4;
  const char* pins[] = {"alice", "bob"};
  for (int i = 0; i < 2; ++i) {
    OverrideEntry& o = c->overrides[i];
    const XXH128_hash_t h = XXH3_128bits(pins[i], std::strlen(pins[i]));
    o.id_hash_low = h.low64, o.id_hash_high = h.high64;
    o.id_len = static_cast<std::uint32_t>(std::strlen(pins[i]));
    o.version = static_cast<std::uint8_t>(i == 0 ? Version::canary : Version::legacy);
    set_text(o.id_prefix, pins[i]);
  }
  c->override_count = 2;
  return c;
}

// What layout 6's router decided: pins, then bucket < share, on endpoints whose flag is on.
Version old_route(const layout6::ConfigData& c, const std::string& user, EndpointId endpoint) {
  if (!c.enabled || endpoint >= c.endpoint_count || !c.endpoints[endpoint].canary) return Version::legacy;
  const XXH128_hash_t h = XXH3_128bits(user.data(), user.size());
  for (std::uint32_t i = 0; i < c.override_count; ++i)
    if (c.overrides[i].id_hash_low == h.low64 && c.overrides[i].id_hash_high == h.high64)
      return static_cast<Version>(c.overrides[i].version);
  return xxh3_bucket(user_hash(user, c.salt)) < c.share_bp ? Version::canary : Version::legacy;
}

// An old segment as its creator left it: header, then the config block, published.
template <class OldConfig>
void write_old_segment(const std::string& name, OldConfig& config, std::uint32_t layout) {
  using Block = TwoCopyBlock<OldConfig>;
  constexpr std::uint64_t kConfigSize = (sizeof(Block) + kPageSize - 1) / kPageSize * kPageSize;
  constexpr std::uint64_t kSize = kPageSize + kConfigSize;
  const int fd = shm_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, kSize), 0);
  void* map = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  auto& h = *static_cast<SegmentHeader*>(map);
  h.layout_version = layout;
  h.header_size = kPageSize;
  h.total_size = kSize;
  h.cpu_slots = 2, h.endpoint_capacity = 16, h.ring_count = 8, h.ring_records = 1024;
  h.histogram_buckets = kHistogramBuckets;
  h.ring_record_size = sizeof(RingRecord);
  h.region_count = 5;
  h.regions[0] = {kPageSize, kConfigSize};
  auto& block = *reinterpret_cast<Block*>(static_cast<std::byte*>(map) + kPageSize);
  detail::publish_two_copy(block, config);
  h.magic.store(kSegmentMagic, std::memory_order_release);
  munmap(map, kSize);
  close(fd);
}

void write_layout6_segment(const std::string& name, layout6::ConfigData& config) {
  write_old_segment(name, config, layout6::kLayoutVersion);
}

class Migrate : public ::testing::Test {
 protected:
  ~Migrate() override { (void)Segment::destroy(name); }
  std::string name = testing::unique_segment_name("migrate");
};

TEST_F(Migrate, ALayout6SegmentIsRefusedByNameThenRebuiltWithItsConfigAndRoutesEveryUserAsBefore) {
  auto old = old_config();
  ASSERT_NO_FATAL_FAILURE(write_layout6_segment(name, *old));
  auto refused = Segment::attach(name, Access::read_only);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("layout"), std::string::npos) << refused.status().message();

  auto from = migrate_segment({name, false});
  ASSERT_TRUE(from.ok()) << from.status().message();
  EXPECT_EQ(*from, 6u);
  auto attached = Segment::attach(name, Access::read_only);
  ASSERT_TRUE(attached.ok()) << attached.status().message();
  EXPECT_EQ(attached->header().layout_version, kLayoutVersion);
  EXPECT_EQ(attached->geometry().params.endpoint_capacity, 16u);
  auto c = std::make_unique<ConfigData>();
  ASSERT_TRUE(read_config(attached->config(), *c, 16).ok);
  const VersionEntry& canary = c->versions[kFirstCandidate];
  EXPECT_EQ(canary.share_bp, 1234u);
  EXPECT_EQ(static_cast<DeploymentState>(canary.state), DeploymentState::paused);
  EXPECT_EQ(text_of(canary.state_reason), "paused for lunch");
  EXPECT_EQ(canary.srm_detected, 1);
  EXPECT_EQ(canary.ramp_step, 1u);
  EXPECT_EQ(c->salt, 77u);
  EXPECT_EQ(c->ramp_count, 3);
  EXPECT_EQ(c->override_count, 2u);

  // No user changes version: 100,000 users on every endpoint, and the pinned ones.
  auto router = std::make_unique<Router>();
  router->bind(&attached->config(), 16);
  int differ = 0;
  for (int u = 0; u < 100'000; ++u) {
    const std::string user = "user-" + std::to_string(u);
    for (EndpointId e = 0; e < 4; ++e) differ += router->route(user, e).version != old_route(*old, user, e) ? 1 : 0;
  }
  EXPECT_EQ(differ, 0);
  EXPECT_EQ(router->route("alice", 3).version, Version::canary);
  EXPECT_EQ(router->route("alice", 2).version, Version::legacy);  // that endpoint's flag was off
  EXPECT_EQ(router->route("bob", 1).version, Version::legacy);

  EXPECT_EQ(migrate_segment({name, false}).status().code(), Errc::refused);  // already current
}

TEST_F(Migrate, AWorkerRunningBeforeTheMigrationAttachesToTheNewSegmentByItself) {
  auto old = old_config();
  old->share_bp = 10000;  // every user canary once attached
  old->state = static_cast<std::uint8_t>(DeploymentState::running);
  ASSERT_NO_FATAL_FAILURE(write_layout6_segment(name, *old));
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t worker = fork();
  if (worker == 0) {
    attach(name);  // refused (layout 6): fails open, everyone legacy
    const bool before = route("user-1", EndpointId{1}).version == Version::legacy;
    char go = 0;
    if (read(report[0], &go, 1) != 1) _exit(3);
    for (int i = 0; i < 100; ++i) {  // the watcher looks once a second
      if (route("user-1", EndpointId{1}).version == Version::canary) _exit(before ? 0 : 2);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    _exit(1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(migrate_segment({name, false}).ok());
  ASSERT_EQ(write(report[1], "g", 1), 1);
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: never attached, 2: routed canary before the migration";
  close(report[0]);
  close(report[1]);
}

TEST_F(Migrate, ALayout7SegmentKeepsItsVersionsPinsAndRoutingAndGainsAnEmptyExperimentTable) {
  // A layout-7 config is the first bytes of today's: three versions, shares, a pin.
  auto current = make_initial_config({}, 16);
  ASSERT_TRUE(current.ok());
  ConfigData& c = *current;
  ASSERT_TRUE(add_version(c, "v-two", 700).ok());
  ASSERT_TRUE(allot_share(c, kFirstCandidate, 1500).ok());
  ASSERT_TRUE(pin_user(c, "alice", 2u).ok());
  auto old = std::make_unique<layout7::ConfigData>();
  std::memcpy(static_cast<void*>(old.get()), &c, sizeof(*old));
  ASSERT_NO_FATAL_FAILURE(write_old_segment(name, *old, layout7::kLayoutVersion));
  EXPECT_EQ(Segment::attach(name, Access::read_only).status().code(), Errc::other_version);

  auto from = migrate_segment({name, false});
  ASSERT_TRUE(from.ok()) << from.status().message();
  EXPECT_EQ(*from, 7u);
  auto attached = Segment::attach(name, Access::read_only);
  ASSERT_TRUE(attached.ok()) << attached.status().message();
  auto after = std::make_unique<ConfigData>();
  ASSERT_TRUE(read_config(attached->config(), *after, 16).ok);
  EXPECT_EQ(after->version_count, 3);
  EXPECT_EQ(text_of(after->versions[2].name), "v-two");
  for (const ExperimentEntry& e : after->experiments) EXPECT_EQ(e.state, 0);

  // Every user routes as the layout-7 config routed them (the same bytes, compiled the same way).
  auto reference = std::make_unique<ConfigBlock>();
  publish_config(*reference, c);
  auto before_router = std::make_unique<Router>();
  before_router->bind(reference.get(), 16);
  auto after_router = std::make_unique<Router>();
  after_router->bind(&attached->config(), 16);
  int differ = 0;
  for (int u = 0; u < 100'000; ++u) {
    const std::string user = "user-" + std::to_string(u);
    differ += before_router->route(user, EndpointId{1}).version != after_router->route(user, EndpointId{1}).version ? 1 : 0;
  }
  EXPECT_EQ(differ, 0);
  EXPECT_EQ(after_router->route("alice", EndpointId{1}).version, Version{2});
}

TEST_F(Migrate, ALayout8SegmentKeepsItsExperimentsAndTheirDropsCountFromZero) {
  auto current = make_initial_config({}, 16);
  ASSERT_TRUE(current.ok());
  ConfigData& c = *current;
  experiment::ExperimentSpec spec;
  spec.name = "reco";
  spec.arms = *experiment::parse_arms("control:50,treatment:50");
  spec.metrics.push_back(*experiment::parse_metric("clicks:conversion"));
  ASSERT_TRUE(experiment::create(c, spec, 11).ok());
  std::uint64_t drops[kMaxExperiments] = {};
  ASSERT_TRUE(experiment::start(c, "reco", 12, drops).ok());
  // Layout 8's experiments ended in a 120-byte reason: its last 8 bytes are drops_at_start now.
  auto old = std::make_unique<layout8::ConfigData>();
  std::memcpy(static_cast<void*>(old.get()), &c, sizeof(*old));
  std::memset(old->experiments[0].reason, 'r', sizeof old->experiments[0].reason);
  ASSERT_NO_FATAL_FAILURE(write_old_segment(name, *old, layout8::kLayoutVersion));
  EXPECT_EQ(Segment::attach(name, Access::read_only).status().code(), Errc::other_version);

  auto from = migrate_segment({name, false});
  ASSERT_TRUE(from.ok()) << from.status().message();
  EXPECT_EQ(*from, 8u);
  auto attached = Segment::attach(name, Access::read_only);
  ASSERT_TRUE(attached.ok()) << attached.status().message();
  auto after = std::make_unique<ConfigData>();
  ASSERT_TRUE(read_config(attached->config(), *after, 16).ok);
  const ExperimentEntry& e = after->experiments[0];
  EXPECT_EQ(text_of(e.name), "reco");
  EXPECT_EQ(static_cast<ExperimentState>(e.state), ExperimentState::running);
  EXPECT_EQ(e.arm_count, 2);
  EXPECT_EQ(text_of(e.reason), std::string(sizeof e.reason - 1, 'r'));
  EXPECT_EQ(e.drops_at_start, 0u);
}

TEST_F(Migrate, NothingToMigrateIsSaidInOneLine) {
  EXPECT_EQ(migrate_segment({name, false}).status().code(), Errc::missing);
}

}  // namespace
}  // namespace canary
