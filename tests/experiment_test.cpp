// SPDX-License-Identifier: Apache-2.0
// Experiments (SPEC section 10a): definitions and their refusals, assignment (deterministic,
// independent of the version and of other experiments: chi-square tests over 100,000 users), the
// worker's records through a real segment's rings, and the aggregator's per-user counting.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/experiment/tracker.hpp"
#include "canary/ring.hpp"
#include "canary/router.hpp"
#include "canary/versions.hpp"
#include "canary/writer.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using experiment::ExperimentSpec;

ExperimentSpec spec(const std::string& name, const std::string& arms, std::vector<std::string> metrics = {}) {
  ExperimentSpec s;
  s.name = name;
  s.arms = *experiment::parse_arms(arms);
  for (const std::string& m : metrics) s.metrics.push_back(*experiment::parse_metric(m));
  return s;
}

std::unique_ptr<ConfigData> config_with(std::uint32_t canary_share_bp) {
  auto c = std::make_unique<ConfigData>(*make_initial_config({}, 16));
  EXPECT_TRUE(allot_share(*c, kFirstCandidate, canary_share_bp).ok());
  return c;
}

// Pearson's chi-square of a rows x cols table of counts, for independence.
double chi_square(const std::vector<std::vector<double>>& t) {
  double total = 0;
  std::vector<double> rows(t.size(), 0), cols(t[0].size(), 0);
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t j = 0; j < t[i].size(); ++j) rows[i] += t[i][j], cols[j] += t[i][j], total += t[i][j];
  double x = 0;
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t j = 0; j < t[i].size(); ++j) {
      const double e = rows[i] * cols[j] / total;
      x += (t[i][j] - e) * (t[i][j] - e) / e;
    }
  return x;
}

TEST(ExperimentDefinition, BadInputIsRefusedInOneLineAndChangesNothing) {
  EXPECT_EQ(experiment::parse_arms("control:60,treatment:50").status().message(),
            "the arms' shares sum to 110%; they must sum to 100%");
  EXPECT_FALSE(experiment::parse_arms("control:100").ok());
  EXPECT_FALSE(experiment::parse_arms("control:50,control:50").ok());
  EXPECT_FALSE(experiment::parse_arms("Control:50,b:50").ok());
  EXPECT_FALSE(experiment::parse_arms("a:0,b:100").ok());
  EXPECT_FALSE(experiment::parse_metric("clicks:ratio").ok());
  EXPECT_FALSE(experiment::parse_metric("clicks").ok());

  auto c = config_with(500);
  const auto before = std::make_unique<ConfigData>(*c);
  auto bad_version = spec("e", "a:50,b:50@nope");
  EXPECT_FALSE(experiment::create(*c, bad_version, 1).ok());
  auto bad_endpoint = spec("e", "a:50,b:50");
  bad_endpoint.endpoints = {"/not/registered"};
  EXPECT_FALSE(experiment::create(*c, bad_endpoint, 1).ok());
  EXPECT_FALSE(experiment::start(*c, "e", 1, {}).ok());
  EXPECT_EQ(std::memcmp(c.get(), before.get(), sizeof(ConfigData)), 0);

  for (int i = 0; i < 8; ++i) ASSERT_TRUE(experiment::create(*c, spec("e" + std::to_string(i), "a:50,b:50"), 1).ok());
  EXPECT_EQ(experiment::create(*c, spec("e8", "a:50,b:50"), 1).status().code(), Errc::refused);
  EXPECT_FALSE(experiment::create(*c, spec("e1", "a:50,b:50"), 1).ok());  // the name is taken
  EXPECT_EQ(config_problem(*c, 16, false), nullptr);
}

TEST(ExperimentDefinition, TheLifeOfAnExperimentAndItsValidation) {
  auto c = config_with(500);
  ASSERT_TRUE(experiment::create(*c, spec("reco", "control:50,treatment:50", {"clicks:conversion"}), 1).ok());
  EXPECT_EQ(experiment::stop(*c, "reco", "", 2).code(), Errc::refused);  // a draft is not running
  ASSERT_TRUE(experiment::start(*c, "reco", 2, {}).ok());
  EXPECT_EQ(experiment::start(*c, "reco", 3, {}).code(), Errc::refused);
  EXPECT_EQ(experiment::remove(*c, "reco").code(), Errc::refused);  // running
  ASSERT_TRUE(experiment::stop(*c, "reco", "enough", 4).ok());
  ASSERT_TRUE(experiment::start(*c, "reco", 5, {}).ok());  // a stopped one resumes
  EXPECT_FALSE(experiment::conclude(*c, "reco", "nope", 6).ok());
  ASSERT_TRUE(experiment::conclude(*c, "reco", "treatment", 6).ok());
  EXPECT_EQ(c->experiments[0].concluded_arm, 1);
  EXPECT_EQ(config_problem(*c, 16, false), nullptr);

  // A corrupt table is refused by every reader.
  c->experiments[0].arms[1].share_bp = 4000;
  EXPECT_STREQ(config_problem(*c, 16, false), "an experiment's arm shares do not sum to 100%");
  c->experiments[0].arms[1].share_bp = 5000;
  c->experiments[0].state = 9;
  EXPECT_STREQ(config_problem(*c, 16, false), "an experiment has an unknown state");
  c->experiments[0].state = static_cast<std::uint8_t>(ExperimentState::concluded);
  ASSERT_TRUE(experiment::remove(*c, "reco").ok());
  EXPECT_EQ(c->experiments[0].state, 0);
}

TEST(ExperimentAssignment, ArmsAreDeterministicFollowTheSharesAndAreIndependentOfVersionsAndOtherExperiments) {
  auto c = config_with(5000);
  ASSERT_TRUE(experiment::create(*c, spec("one", "control:50,treatment:50"), 1).ok());
  ASSERT_TRUE(experiment::create(*c, spec("two", "a:20,b:30,c:50"), 2).ok());
  auto third = spec("three", "control:50,treatment:50");
  third.exposure_bp = 2000;
  ASSERT_TRUE(experiment::create(*c, third, 3).ok());
  for (const char* name : {"one", "two", "three"}) ASSERT_TRUE(experiment::start(*c, name, 4, {}).ok());
  auto block = std::make_unique<ConfigBlock>();
  publish_config(*block, *c);
  auto router = std::make_unique<Router>();
  router->bind(block.get(), 16);

  constexpr int kUsers = 100'000;
  std::vector<std::vector<double>> one_by_version(2, std::vector<double>(2, 0)), one_by_two(2, std::vector<double>(3, 0));
  double two_arms[3] = {0, 0, 0};
  int exposed_three = 0;
  for (int u = 0; u < kUsers; ++u) {
    const std::string user = "user-" + std::to_string(u);
    const Assignment a = router->assign(0, user);
    const Assignment b = router->assign(1, user);
    ASSERT_TRUE(a.in_experiment && b.in_experiment);
    EXPECT_EQ(router->assign(0, user).arm, a.arm);  // deterministic
    const auto v = static_cast<std::size_t>(router->route(user, EndpointId{1}).version);
    one_by_version[a.arm][v] += 1;
    one_by_two[a.arm][b.arm] += 1;
    two_arms[b.arm] += 1;
    exposed_three += router->assign(2, user).in_experiment ? 1 : 0;
  }
  // Independence at alpha 0.001: chi-square with 1 and 2 degrees of freedom.
  EXPECT_LT(chi_square(one_by_version), 10.83);
  EXPECT_LT(chi_square(one_by_two), 13.82);
  // The shares: a goodness-of-fit chi-square with 2 degrees of freedom.
  const double expected[3] = {0.2 * kUsers, 0.3 * kUsers, 0.5 * kUsers};
  double fit = 0;
  for (int i = 0; i < 3; ++i) fit += (two_arms[i] - expected[i]) * (two_arms[i] - expected[i]) / expected[i];
  EXPECT_LT(fit, 13.82);
  EXPECT_NEAR(exposed_three, 0.2 * kUsers, 4 * std::sqrt(0.2 * 0.8 * kUsers));

  // Outside a running experiment: control and nothing to expose; concluded: its arm for everyone.
  ASSERT_TRUE(experiment::stop(*c, "one", "", 5).ok());
  ASSERT_TRUE(experiment::conclude(*c, "two", "c", 5).ok());
  publish_config(*block, *c);
  for (int u = 0; u < 100; ++u) {
    const std::string user = "user-" + std::to_string(u);
    EXPECT_FALSE(router->assign(0, user).in_experiment);
    EXPECT_EQ(router->assign(0, user).arm, 0);
    EXPECT_EQ(router->assign(1, user).arm, 2);
    EXPECT_FALSE(router->assign(1, user).in_experiment);
  }
  EXPECT_FALSE(router->assign(7, "user-1").in_experiment);  // a free slot
}

TEST(ExperimentAssignment, AnArmBoundToAVersionRoutesItsUsersThereUntilTheVersionIsRolledBack) {
  auto c = config_with(0);  // the canary's own share is 0: the experiment alone sends users to it
  auto s = spec("versions", "control:50,treatment:50@canary");
  ASSERT_TRUE(experiment::create(*c, s, 1).ok());
  ASSERT_TRUE(experiment::start(*c, "versions", 2, {}).ok());
  auto block = std::make_unique<ConfigBlock>();
  publish_config(*block, *c);
  auto router = std::make_unique<Router>();
  router->bind(block.get(), 16);
  int agree = 0;
  for (int u = 0; u < 1000; ++u) {
    const std::string user = "user-" + std::to_string(u);
    const bool treated = router->assign(0, user).arm == 1;
    agree += (router->route(user, EndpointId{1}).version == Version::canary) == treated ? 1 : 0;
  }
  EXPECT_EQ(agree, 1000);
  EXPECT_TRUE(experiment::unguarded(*c).empty());
  c->versions[kFirstCandidate].state = static_cast<std::uint8_t>(DeploymentState::rolled_back);
  EXPECT_EQ(experiment::unguarded(*c), std::vector<std::string>{"versions"});
  publish_config(*block, *c);
  for (int u = 0; u < 1000; ++u) EXPECT_EQ(router->route("user-" + std::to_string(u), EndpointId{1}).version, Version::legacy);
}

// The worker's calls through a real segment: the records reach the rings as written, and the
// tracker counts a conversion once per user, a sum per user, and refuses what it must.
TEST(ExperimentRecords, WorkersRecordsCountOncePerUserWhereTheMetricSays) {
  testing::ScratchSegment scratch("exp");
  Segment& segment = scratch.segment();
  ASSERT_TRUE(update_config(segment, "test", [](ConfigData& c) {
                auto created = experiment::create(c, spec("reco", "control:50,treatment:50", {"clicks:conversion", "revenue:sum", "views:count"}), 1);
                return created ? experiment::start(c, "reco", 2, {}) : created.status();
              }).ok());
  ASSERT_TRUE(attach(scratch.name()));
  const auto id = find_experiment("reco");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(find_metric(*id, "revenue"), std::optional<std::uint8_t>(1));
  std::uint64_t exposures[2] = {0, 0};
  for (int u = 0; u < 100; ++u) {  // 900 records: within one ring of 1024
    const Assignment a = arm(*id, "user-" + std::to_string(u));
    ASSERT_TRUE(a.in_experiment);
    expose(a);
    expose(a);
    exposures[a.arm] += 2;
    record_event(a, 0, 1.0);  // a conversion, twice: counted once
    record_event(a, 0, 1.0);
    record_event(a, 1, 2.5);  // revenue 2.5 + 1.5 = 4
    record_event(a, 1, 1.5);
    record_event(a, 2, 0);    // three views
    record_event(a, 2, 0);
    record_event(a, 2, 0);
  }
  record_event(*id, 0, 1, 0, std::nan(""));  // refused by the writer
  EXPECT_EQ(writer_stats().invalid_experiment_records, 1u);

  auto config = std::make_unique<ConfigData>();
  ASSERT_TRUE(read_config(segment.config(), *config, 16).ok);
  experiment::Tracker tracker(1000);
  std::uint64_t drops[kMaxExperiments] = {};
  tracker.sync(*config);
  auto consumer = RingConsumer::open(segment);
  ASSERT_TRUE(consumer.ok());
  std::uint64_t requests = 0;
  consumer->drain([&](const RingRecord& r) {
    if (r.kind == kRecordRequest) ++requests;
    else tracker.add(r);
  });
  EXPECT_EQ(requests, 0u);
  // A user recorded under the other arm is counted apart, not mixed in.
  RingRecord wrong{};
  wrong.kind = kRecordEvent;
  wrong.user_hash = arm(*id, "user-0").user_hash;
  wrong.method = static_cast<std::uint8_t>(1 - arm(*id, "user-0").arm);
  wrong.coarse_ms = std::bit_cast<std::uint64_t>(1.0);
  tracker.add(wrong);

  auto results = std::make_unique<ExperimentResultsData>();
  tracker.fill(*results, drops);
  const ExperimentTotals& t = results->experiments[*id];
  EXPECT_EQ(t.arms[0].users + t.arms[1].users, 100u);
  EXPECT_EQ(t.arms[0].exposures, exposures[0]);
  EXPECT_EQ(t.arms[1].exposures, exposures[1]);
  EXPECT_EQ(t.arm_mismatches, 1u);
  for (int a = 0; a < 2; ++a) {
    const double n = static_cast<double>(t.arms[a].users);
    EXPECT_EQ(t.arms[a].metrics[0].sum, n);          // converted once each
    EXPECT_EQ(t.arms[a].metrics[0].events, 2 * t.arms[a].users);
    EXPECT_EQ(t.arms[a].metrics[1].sum, 4 * n);      // revenue 4 each
    EXPECT_EQ(t.arms[a].metrics[1].sum_squares, 16 * n);
    EXPECT_EQ(t.arms[a].metrics[2].sum, 3 * n);      // three views each
    EXPECT_EQ(t.arms[a].metrics[2].sum_squares, 9 * n);
  }

  // The memory bound: users past it are counted as untracked, not added.
  experiment::Tracker small(10);
  small.sync(*config);
  for (std::uint64_t u = 1; u <= 15; ++u) {
    RingRecord r{};
    r.kind = kRecordExposure;
    r.user_hash = u;
    small.add(r);
  }
  small.fill(*results, drops);
  EXPECT_EQ(results->users_tracked, 10u);
  EXPECT_EQ(results->experiments[*id].users_untracked, 5u);

  // A stopped experiment counts nothing more: its records are ignored, and counted.
  ASSERT_TRUE(update_config(segment, "test", [](ConfigData& c) { return experiment::stop(c, "reco", "", 3); }).ok());
  ASSERT_TRUE(read_config(segment.config(), *config, 16).ok);
  small.sync(*config);
  RingRecord late{};
  late.kind = kRecordExposure;
  late.user_hash = 1;
  small.add(late);
  small.fill(*results, drops);
  EXPECT_EQ(results->experiments[*id].records_ignored, 1u);
  EXPECT_EQ(results->experiments[*id].arms[0].exposures + results->experiments[*id].arms[1].exposures, 10u);
}

// The per-user state the aggregator writes beside its checkpoint: read back whole, and a damaged
// copy is refused without changing anything.
TEST(ExperimentRecords, TheTrackersStateReadsBackWholeAndADamagedCopyChangesNothing) {
  auto c = config_with(500);
  ASSERT_TRUE(experiment::create(*c, spec("reco", "control:50,treatment:50", {"revenue:sum"}), 7).ok());
  ASSERT_TRUE(experiment::start(*c, "reco", 8, {}).ok());
  std::uint64_t drops[kMaxExperiments] = {};
  experiment::Tracker saved(100);
  saved.sync(*c);
  for (std::uint64_t u = 1; u <= 40; ++u) {
    RingRecord r{};
    r.kind = kRecordEvent;
    r.user_hash = u;
    r.method = static_cast<std::uint8_t>(u % 2);
    r.coarse_ms = std::bit_cast<std::uint64_t>(static_cast<double>(u));
    saved.add(r);
  }
  ByteWriter out;
  saved.save(out);
  auto want = std::make_unique<ExperimentResultsData>(), got = std::make_unique<ExperimentResultsData>();
  saved.fill(*want, drops);

  experiment::Tracker restored(100);
  restored.sync(*c);
  ByteReader in(out.out());
  ASSERT_TRUE(restored.load(in).ok());
  restored.fill(*got, drops);
  EXPECT_EQ(std::memcmp(want.get(), got.get(), sizeof(ExperimentResultsData)), 0);
  EXPECT_EQ(restored.users(), 40u);

  experiment::Tracker damaged(100);
  damaged.sync(*c);
  const std::string cut = out.out().substr(0, out.out().size() - 5);
  ByteReader short_in(cut);
  EXPECT_FALSE(damaged.load(short_in).ok());
  EXPECT_EQ(damaged.users(), 0u);
  experiment::Tracker small(10);  // a bound below what was saved
  small.sync(*c);
  ByteReader again(out.out());
  EXPECT_FALSE(small.load(again).ok());
  EXPECT_EQ(small.users(), 0u);
}

}  // namespace
}  // namespace canary
