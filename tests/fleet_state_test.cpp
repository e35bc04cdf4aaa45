// SPDX-License-Identifier: Apache-2.0
// Fleet mode's pieces without etcd: the config's JSON and how a host applies it, the interval
// format against hostile bytes, the merge's exactly-once rule, and the policy's fleet fields.
#include <gtest/gtest.h>

#include <random>

#include "canary/config_edit.hpp"
#include "canary/decision/policy.hpp"
#include "canary/fleet/fleet_config.hpp"
#include "canary/fleet/fleet_store.hpp"
#include "canary/fleet/host_interval.hpp"
#include "canary/fleet/merge_state.hpp"
#include "canary/fleet/round.hpp"
#include "canary/versions.hpp"

namespace canary::fleet {
namespace {

constexpr std::uint32_t kCapacity = 16;

TEST(FleetConfig, RoundTripsThroughJsonAndRefusesWhatIsBroken) {
  FleetConfig c;
  c.generation = 7;
  c.share_bp = 500;
  c.shares = {{"eu", 2000}};
  c.regions_rolled_back = {"us"};
  c.pins = {{"alice", "canary"}};
  c.state = DeploymentState::paused;
  auto back = parse_fleet_config(to_json(c));
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->generation, 7u);
  EXPECT_EQ(back->share_for("eu"), 2000u);
  EXPECT_EQ(back->share_for("ap"), 500u);
  EXPECT_EQ(back->share_for("us"), 0u) << "a region rolled back stays at 0";
  EXPECT_EQ(back->state, DeploymentState::paused);
  EXPECT_FALSE(parse_fleet_config("not json"));
  EXPECT_FALSE(parse_fleet_config(R"({"generation": 1, "state": "flying"})"));
  EXPECT_FALSE(parse_fleet_config(R"({"generation": 1, "share_bp": 10001})"));
  EXPECT_FALSE(parse_fleet_config(R"({"generation": "one"})"));
  EXPECT_FALSE(parse_fleet_config(R"({"share_bp": 5})")) << "no generation";
}

TEST(FleetConfig, AHostAppliesItsRegionsShareAndIsMarkedFleetManaged) {
  auto initial = make_initial_config({}, kCapacity);
  ASSERT_TRUE(initial);
  ConfigData c = *initial;
  FleetConfig f;
  f.generation = 3;
  f.share_bp = 100;
  f.shares = {{"eu", 2500}};
  f.rollout_unix_ns = 12345;
  f.endpoints = {"/api/v2/new/{id}"};
  f.endpoints_off = {"/api/v2/recommend/compare"};
  f.pins = {{"bob", "legacy"}};
  ASSERT_TRUE(apply_fleet_config(f, "eu", c, kCapacity).ok());
  EXPECT_EQ(c.fleet_managed, 1);
  EXPECT_EQ(c.versions[kFirstCandidate].share_bp, 2500u);
  EXPECT_EQ(c.rollout_started_unix_ns, 12345u);
  EXPECT_EQ(c.override_count, 1u);
  const auto search = find_endpoint(c, "/api/v2/recommend/compare");
  ASSERT_TRUE(search);
  EXPECT_FALSE(endpoint_on(c.versions[kFirstCandidate], *search));
  EXPECT_TRUE(find_endpoint(c, "/api/v2/new/{id}"));
  ConfigData other = *initial;
  ASSERT_TRUE(apply_fleet_config(f, "us", other, kCapacity).ok());
  EXPECT_EQ(other.versions[kFirstCandidate].share_bp, 100u);
  // A pin to a version the host does not have is refused, and nothing changes.
  f.pins = {{"bob", "nope"}};
  const ConfigData before = c;
  EXPECT_FALSE(apply_fleet_config(f, "eu", c, kCapacity).ok());
  EXPECT_EQ(std::memcmp(&before, &c, sizeof c), 0);
}

TEST(FleetCommands, FollowTheStateMachine) {
  FleetConfig c;
  Policy p;
  p.fleet.waves = {{{"eu"}, 5000}, {{"us"}, 10000}};
  ASSERT_TRUE(fleet_start(c, p, std::nullopt, std::nullopt).ok());
  EXPECT_EQ(c.share_for("eu"), 500u);
  EXPECT_EQ(c.share_for("us"), 0u) << "the second wave waits";
  EXPECT_FALSE(fleet_promote(c, false).ok()) << "the gate decides, or --force";
  EXPECT_FALSE(fleet_approve(c).ok());
  ASSERT_TRUE(fleet_set_share(c, 1000, std::string("us")).ok());
  EXPECT_EQ(c.share_for("us"), 1000u);
  EXPECT_FALSE(fleet_set_share(c, 1000, std::string("bad region!")).ok());
  ASSERT_TRUE(fleet_pause(c).ok());
  EXPECT_FALSE(fleet_pause(c).ok());
  ASSERT_TRUE(fleet_resume(c).ok());
  ASSERT_TRUE(fleet_rollback(c, "by hand").ok());
  EXPECT_EQ(c.share_for("eu"), 0u);
  EXPECT_FALSE(fleet_set_share(c, 500, std::nullopt).ok()) << "a rolled-back rollout needs a new start";
  EXPECT_FALSE(fleet_pin(c, "alice", "canary2").ok()) << "a fleet has two versions";
  EXPECT_TRUE(fleet_pin(c, "alice", "canary").ok());
}

HostInterval interval(std::uint64_t segment, std::uint64_t seq, std::uint64_t legacy, std::uint64_t canary) {
  HostInterval h;
  h.segment_id = segment;
  h.id = {100, seq};
  h.cells.push_back({0, 1, {legacy, legacy / 10, 0, 0, legacy * 1000}});
  h.cells.push_back({1, 1, {canary, 0, 0, 0, canary * 900}});
  h.latency[0].add(1000);
  h.latency[1].add(900);
  return h;
}

std::vector<HostInterval> through_the_wire(std::vector<HostInterval> in) {
  std::vector<std::string> bytes;
  for (HostInterval& h : in) bytes.push_back(encode_interval(h));
  std::vector<std::string_view> views(bytes.begin(), bytes.end());
  auto out = decode_batch(encode_batch(views));
  EXPECT_TRUE(out) << out.status().message();
  return out ? std::move(*out) : std::vector<HostInterval>{};
}

TEST(MergeState, CountsEveryRequestOnceWhateverIsPulledTwiceOrMissed) {
  MergeState m;
  auto first = through_the_wire({interval(1, 1, 100, 10), interval(1, 2, 250, 30)});
  EXPECT_EQ(m.merge("h1", "eu", first, 0), 2u);
  auto again = through_the_wire({interval(1, 2, 250, 30), interval(1, 3, 400, 50)});
  EXPECT_EQ(m.merge("h1", "eu", again, 0), 1u) << "interval 2 was merged already";
  EXPECT_EQ(m.totals[""][0].requests, 400u);
  EXPECT_EQ(m.totals["eu"][1].requests, 50u);
  // Interval 4 never pulled (the host's history ran past it): 5's cumulative counts cover it.
  auto later = through_the_wire({interval(1, 5, 1000, 90)});
  m.merge("h1", "eu", later, 0);
  EXPECT_EQ(m.totals[""][0].requests, 1000u);
  // A new segment counts from zero.
  auto fresh = through_the_wire({interval(2, 1, 30, 3)});
  m.merge("h1", "eu", fresh, 0);
  EXPECT_EQ(m.totals[""][0].requests, 1030u);
  // In the step: the intervals that follow the last one read (2 and 3), not the first read, the
  // one after a gap or the new segment's first, whose counts span time of unknown config.
  EXPECT_EQ(m.steps["eu"].latency[1].sketch.count(), 2u);
  EXPECT_EQ(m.steps["eu"].counts[1].requests, 40u);
  EXPECT_EQ(m.intervals_left_out, 3u);

  auto restored = MergeState::deserialize(m.serialize());
  ASSERT_TRUE(restored) << restored.status().message();
  EXPECT_EQ(restored->totals[""][0].requests, 1030u);
  EXPECT_EQ(restored->hosts["h1"].last.sequence, 1u);
  EXPECT_EQ(restored->steps["eu"].latency[1].sketch.count(), 2u);
  EXPECT_EQ(restored->intervals_left_out, 3u);
}

TEST(MergeState, ARegionTheCandidateDoesNotServeGivesTheFleetScopeNoBaselineLatencies) {
  MergeState m;
  auto served = through_the_wire({interval(1, 1, 100, 10), interval(1, 2, 250, 30)});
  m.merge("a1", "eu", served, 0, /*candidate_serves=*/true);
  auto unserved = through_the_wire({interval(1, 1, 100, 0), interval(1, 2, 250, 0)});
  m.merge("b1", "us", unserved, 0, /*candidate_serves=*/false);
  EXPECT_EQ(m.steps[""].latency[0].sketch.count(), 1u) << "eu's second interval only";
  EXPECT_EQ(m.steps["us"].latency[0].sketch.count(), 1u) << "its own region's step keeps them";
  EXPECT_EQ(m.steps[""].counts[0].requests, 150u + 150u) << "counts stay: the strata weigh them";
}

TEST(MergeState, AStepRestartsWhenItsKeyChanges) {
  MergeState m;
  m.step("eu", "r1:500", 0);
  auto data = through_the_wire({interval(1, 1, 100, 10), interval(1, 2, 250, 30)});
  m.merge("h1", "eu", data, 0);
  EXPECT_EQ(m.step("eu", "r1:500", 0).counts[1].requests, 20u);
  Stretch& next = m.step("eu", "r1:1000", 1);
  EXPECT_EQ(next.counts[1].requests, 0u);
  EXPECT_EQ(next.sequence, 2u) << "each restart spends a smaller share of alpha";
  EXPECT_EQ(next.first_generation, 1u);
  EXPECT_EQ(m.totals["eu"][1].requests, 30u) << "totals never restart";
}

HostInterval tagged(std::uint64_t seq, std::uint64_t canary, std::uint64_t generation, std::uint64_t flags = 0) {
  HostInterval h = interval(1, seq, canary * 19, canary);
  h.fleet_generation = generation;
  h.fleet_flags = flags;
  return h;
}

TEST(MergeState, AnIntervalCountsOnlyInTheStepItWasRecordedIn) {
  MergeState m;
  m.step("eu", "rollout-2:500", 7);  // the step began with generation 7
  m.step("", "rollout-2:500", 7);
  auto pulled = through_the_wire({
      tagged(1, 10, 6),                  // the cursor's start: its counts span unknown time
      tagged(2, 20, 6),                  // the previous rollout's config
      tagged(3, 30, 7, kConfigChanged),  // the host applied 7 during it
      tagged(4, 40, 7),                  // whole, under 7: counts
      tagged(5, 50, 8),                  // a config the leader has not read yet: waits
      tagged(6, 60, 8),
  });
  EXPECT_EQ(m.merge("h1", "eu", pulled, 7), 4u);
  EXPECT_EQ(m.steps["eu"].counts[1].requests, 10u) << "only interval 4: 40 - 30";
  EXPECT_EQ(m.steps[""].counts[1].requests, 10u);
  EXPECT_EQ(m.steps["eu"].latency[1].sketch.count(), 1u);
  EXPECT_EQ(m.totals["eu"][1].requests, 40u) << "the totals hold everything";
  EXPECT_EQ(m.intervals_left_out, 3u);
  EXPECT_EQ(m.requests_left_out, 30u * 20) << "both versions of intervals 1-3";
  EXPECT_EQ(m.hosts["h1"].last.sequence, 4u) << "5 waits for the leader to read generation 8";

  // Once the leader has 8 (no step change: a pause, say), 5 and 6 count; a fallback does not.
  auto again = through_the_wire({tagged(5, 50, 8), tagged(6, 60, 8), tagged(7, 70, 8, kFellBack)});
  EXPECT_EQ(m.merge("h1", "eu", again, 8), 3u);
  EXPECT_EQ(m.steps["eu"].counts[1].requests, 30u);
  EXPECT_EQ(m.intervals_left_out, 4u);
}

TEST(MergeState, AHostWhoseClockSteppedBackIsReadAgain) {
  // Runs are random ids, not start times: a new run with a smaller id is still new.
  MergeState m;
  std::vector<HostInterval> old_run = {interval(1, 1, 100, 10), interval(1, 2, 200, 20)};
  for (HostInterval& h : old_run) h.id.epoch = 9'000'000;
  m.merge("h1", "eu", old_run, 0);
  std::vector<HostInterval> new_run = {interval(1, 1, 300, 30), interval(1, 2, 400, 40)};
  for (HostInterval& h : new_run) h.id.epoch = 5;
  EXPECT_EQ(m.merge("h1", "eu", new_run, 0), 2u);
  EXPECT_EQ(m.totals["eu"][1].requests, 40u);
  EXPECT_EQ(m.hosts["h1"].last, (IntervalId{5, 2}));

  IntervalHistory history(10);
  history.push({5, 1}, encode_interval(new_run[0]));
  history.push({5, 2}, encode_interval(new_run[1]));
  EXPECT_EQ(decode_batch(history.encode_after({9'000'000, 40}, 100))->size(), 2u) << "another run: all of it";
  EXPECT_EQ(decode_batch(history.encode_after({5, 1}, 100))->size(), 1u);
  EXPECT_NE(new_run_id(), new_run_id());
}

TEST(MergeState, TheGatesHeldTimeIsAnElapsedSumThatSurvivesATakeover) {
  MergeState m;
  m.step("", "k", 1).gate_held_ms = 4200;
  auto restored = MergeState::deserialize(m.serialize());
  ASSERT_TRUE(restored) << restored.status().message();
  EXPECT_EQ(restored->steps[""].gate_held_ms, 4200u);
  EXPECT_EQ(restored->steps[""].first_generation, 1u);
  // The previous formats (a wall-clock "held since"; no slices of time) are refused, not misread.
  for (char format : {'1', '2'}) {
    std::string old = m.serialize();
    old[7] = format;  // the magic's last byte: "cnryFlt1", "cnryFlt2"
    EXPECT_FALSE(MergeState::deserialize(old));
  }
}

TEST(MergeState, AStepIsSlicedInTheLeadersTimeAndItsSlicesSurviveATakeover) {
  // A burst merged in one round of twelve: the step's error count is worth far fewer requests.
  MergeState m;
  Stretch& s = m.step("", "k", 1);
  for (int round = 0; round < 12; ++round) {
    s.counts[1].requests += 1000;
    s.counts[1].errors += round == 5 ? 500 : 5;
    s.slice(10'000, false);
  }
  EXPECT_EQ(s.time[1].slices(), 12u);
  EXPECT_GT(s.time[1].design_effect(), 50);
  auto restored = MergeState::deserialize(m.serialize());
  ASSERT_TRUE(restored) << restored.status().message();
  EXPECT_DOUBLE_EQ(restored->steps[""].time[1].design_effect(), s.time[1].design_effect());
  const Evidence e = step_evidence(restored->steps[""], Policy{});
  EXPECT_EQ(e.canary.time_slices, 12u);
  EXPECT_DOUBLE_EQ(e.canary.time_design_effect, s.time[1].design_effect());
}

TEST(HostileBytes, NeverCrashTheDecoders) {
  auto good = through_the_wire({interval(1, 1, 100, 10), interval(1, 2, 200, 20)});
  std::vector<std::string> bytes;
  for (HostInterval& h : good) bytes.push_back(encode_interval(h));
  const std::string batch = encode_batch({bytes[0], bytes[1]});
  MergeState m;
  m.merge("h", "r", good, 0);
  const std::string state = m.serialize();
  std::mt19937_64 rng(7);
  int refused = 0;
  for (int i = 0; i < 400; ++i) {
    for (const std::string* original : {&batch, &state}) {
      std::string mutated = *original;
      const int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits; ++e) mutated[rng() % mutated.size()] = static_cast<char>(rng());
      if (rng() % 4 == 0) mutated.resize(rng() % mutated.size());
      const bool ok = original == &batch ? static_cast<bool>(decode_batch(mutated)) : static_cast<bool>(MergeState::deserialize(mutated));
      refused += ok ? 0 : 1;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_FALSE(decode_batch(""));
  EXPECT_FALSE(parse_interval_id("12"));
  EXPECT_FALSE(parse_interval_id("1.2x"));
  EXPECT_EQ(parse_interval_id("12.34")->sequence, 34u);
}

TEST(FleetPolicy, ParsesWavesScopeAndEtcdLoss) {
  auto p = parse_policy(
      "regions:\n  - wave: [eu-west]\n    hold_at: 50\n  - wave: [us-east, ap]\n"
      "rollback:\n  scope: region\nfleet:\n  etcd_lost: legacy_after 30s\n", "p.yaml");
  ASSERT_TRUE(p) << p.status().message();
  ASSERT_EQ(p->fleet.waves.size(), 2u);
  EXPECT_EQ(p->fleet.waves[0].hold_at_bp, 5000u);
  EXPECT_EQ(p->fleet.waves[1].regions.size(), 2u);
  EXPECT_EQ(p->fleet.rollback_scope, FleetPolicy::Scope::region);
  EXPECT_EQ(p->fleet.etcd_lost_legacy_after_ms, 30000u);
  for (const char* bad : {"regions:\n  - wave: [eu, eu]\n", "regions: []\n", "rollback:\n  scope: planet\n",
                          "fleet:\n  etcd_lost: panic\n", "regions:\n  - wave: [eu]\n    hold_at: 0\n",
                          "regions:\n  - wave: ['a b']\n"}) {
    auto refused = parse_policy(bad, "p.yaml");
    EXPECT_FALSE(refused) << bad;
  }
}

}  // namespace
}  // namespace canary::fleet
