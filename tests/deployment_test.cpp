// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "canary/config.hpp"
#include "canary/deployment.hpp"
#include "canary/versions.hpp"
#include "canary/events.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::ScratchSegment;

ConfigData running_at(std::uint32_t share_bp) {
  ConfigData c = *make_initial_config({}, 16);
  const std::uint32_t ramp[] = {500, 1000, 2500, 10000};
  adopt_policy_settings(c, ramp, 4, true, 0);
  EXPECT_TRUE(allot_share(c, kFirstCandidate, share_bp).ok());
  return c;
}

DeploymentState state(const ConfigData& c) { return static_cast<DeploymentState>(c.versions[1].state); }

TEST(Deployment, TheStateTableOfTheSpec) {
  EventDraft e;
  ConfigData c = running_at(500);
  EXPECT_EQ(approve(c, "", e).code(), Errc::refused);  // nothing awaits approval
  EXPECT_EQ(resume(c, "", e).code(), Errc::refused);   // not paused
  ASSERT_TRUE(pause(c, "", e).ok());
  EXPECT_EQ(state(c), DeploymentState::paused);
  EXPECT_EQ(e.kind, EventKind::paused);
  EXPECT_EQ(pause(c, "", e).code(), Errc::refused);
  EXPECT_EQ(promote(c, true, true, "", e).code(), Errc::refused);  // only from running
  ASSERT_TRUE(set_share_by_hand(c, 700, e).ok());                  // manual share while paused
  EXPECT_EQ(state(c), DeploymentState::paused);
  ASSERT_TRUE(resume(c, "", e).ok());
  EXPECT_EQ(promote(c, false, false, "", e).code(), Errc::refused);  // gate does not hold
  ASSERT_TRUE(promote(c, false, true, "", e).ok());
  EXPECT_EQ(state(c), DeploymentState::promoted);
  EXPECT_EQ(c.versions[1].share_bp, 10000u);
  EXPECT_EQ(set_share_by_hand(c, 500, e).code(), Errc::refused);  // start a new rollout first
  EXPECT_EQ(roll_back(c, "", e).code(), Errc::refused);
  ASSERT_TRUE(start_rollout(c, {}, "", e).ok());
  EXPECT_EQ(state(c), DeploymentState::running);
  EXPECT_EQ(c.versions[1].share_bp, 500u);  // the first ramp step
  EXPECT_EQ(e.kind, EventKind::started);
  ASSERT_TRUE(roll_back(c, "bad", e).ok());
  EXPECT_EQ(c.versions[1].share_bp, 0u);
  EXPECT_EQ(state(c), DeploymentState::rolled_back);
  EXPECT_EQ(set_share_by_hand(c, 500, e).code(), Errc::refused);
  StartOptions again;
  again.share_bp = 250;
  again.salt = 99;
  ASSERT_TRUE(start_rollout(c, again, "", e).ok());
  EXPECT_EQ(c.versions[1].share_bp, 250u);
  EXPECT_EQ(c.salt, 99u);
}

TEST(Deployment, AnInconclusiveStepWaitsForAPersonToDecide) {
  EventDraft e;
  ConfigData c = running_at(500);
  ASSERT_TRUE(mark_inconclusive(c, "inconclusive: the gate did not pass within 86400 s", e).ok());
  EXPECT_EQ(state(c), DeploymentState::inconclusive);
  EXPECT_EQ(e.kind, EventKind::inconclusive);
  EXPECT_EQ(c.versions[1].share_bp, 500u);  // unchanged: the ramp is frozen
  EXPECT_EQ(mark_inconclusive(c, "again", e).code(), Errc::refused);
  EXPECT_EQ(take_ramp_step(c, 1000, "", e).code(), Errc::refused);
  EXPECT_EQ(set_share_by_hand(c, 1000, e).code(), Errc::refused);
  EXPECT_EQ(pause(c, "", e).code(), Errc::refused);
  EXPECT_EQ(promote(c, false, true, "", e).code(), Errc::refused);  // a person decides: --force
  ConfigData forced = c;
  ASSERT_TRUE(promote(forced, true, false, "", e).ok());
  EXPECT_EQ(state(forced), DeploymentState::promoted);
  ConfigData rolled = c;
  ASSERT_TRUE(roll_back(rolled, "", e).ok());
  EXPECT_EQ(state(rolled), DeploymentState::rolled_back);
  ASSERT_TRUE(start_rollout(c, {}, "", e).ok());
  EXPECT_EQ(state(c), DeploymentState::running);
}

TEST(Deployment, ASampleRatioMismatchHoldsTheRampAndPromotionUntilClearedOrStarted) {
  ConfigData c = running_at(500);
  EventDraft e;
  ASSERT_TRUE(flag_srm(c, "mismatch", e).ok());
  EXPECT_EQ(e.kind, EventKind::srm_detected);
  EXPECT_FALSE(flag_srm(c, "again", e).ok());
  EXPECT_EQ(take_ramp_step(c, 1000, "step", e).code(), Errc::refused);
  EXPECT_EQ(promote(c, false, true, "", e).code(), Errc::refused);
  EXPECT_EQ(c.versions[1].share_bp, 500u);
  ConfigData copy = c;
  EXPECT_TRUE(roll_back(copy, "", e).ok());  // a rollback never waits
  ASSERT_TRUE(clear_srm(c, "", e).ok());
  EXPECT_EQ(e.kind, EventKind::srm_cleared);
  EXPECT_TRUE(take_ramp_step(c, 1000, "step", e).ok());
  ASSERT_TRUE(flag_srm(c, "mismatch", e).ok());
  ASSERT_TRUE(start_rollout(c, {}, "", e).ok());
  EXPECT_EQ(c.versions[1].srm_detected, 0);
}

TEST(Deployment, TheRampStepsUpAndWaitsForApprovalBefore100) {
  EventDraft e;
  ConfigData c = running_at(500);
  EXPECT_EQ(next_ramp_step(c), 1000u);
  ASSERT_TRUE(take_ramp_step(c, 1000, "gate held", e).ok());
  EXPECT_EQ(c.versions[1].share_bp, 1000u);
  EXPECT_EQ(c.versions[1].ramp_step, 1u);
  EXPECT_EQ(next_ramp_step(c), 2500u);
  ASSERT_TRUE(take_ramp_step(c, 2500, "gate held", e).ok());
  EXPECT_EQ(next_ramp_step(c), 10000u);
  ASSERT_TRUE(await_approval(c, "waits", e).ok());
  EXPECT_TRUE(c.versions[1].awaiting_approval);
  ASSERT_TRUE(approve(c, "", e).ok());
  EXPECT_EQ(state(c), DeploymentState::promoted);
  EXPECT_EQ(c.versions[1].share_bp, 10000u);
}

TEST(Deployment, ChangesAreEventsInTheSegmentWithTheirStatesAndShares) {
  ScratchSegment s("events");
  auto step = [&](const char* who, const std::function<Status(ConfigData&, EventDraft&)>& edit) {
    EventDraft e;
    ASSERT_TRUE(update_config(s.segment(), who, [&](ConfigData& c) { return edit(c, e); }, &e).ok());
  };
  step("alice", [](ConfigData& c, EventDraft& e) { return set_share_by_hand(c, 1000, e); });
  step("bob", [](ConfigData& c, EventDraft& e) { return pause(c, "lunch", e); });
  step("bob", [](ConfigData& c, EventDraft& e) { return roll_back(c, "", e); });
  const std::vector<Event> events = read_events(s.segment());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, EventKind::share_changed);
  EXPECT_EQ(events[0].share_before_bp, 500u);
  EXPECT_EQ(events[0].share_after_bp, 1000u);
  EXPECT_EQ(events[0].actor, "alice");
  EXPECT_EQ(events[1].reason, "lunch");
  EXPECT_EQ(events[1].to, DeploymentState::paused);
  EXPECT_EQ(events[2].from, DeploymentState::paused);
  EXPECT_EQ(events[2].to, DeploymentState::rolled_back);
  EXPECT_EQ(read_events(s.segment(), events[1].seq).size(), 1u);
}

TEST(Deployment, TheEventLogKeepsTheLast255AndSkipsHalfWrittenEntries) {
  ScratchSegment s("eventring");
  for (int i = 0; i < 300; ++i) {
    Event e;
    e.kind = EventKind::share_changed;
    e.reason = "change " + std::to_string(i);
    append_event(s.segment(), e);
  }
  std::vector<Event> events = read_events(s.segment());
  ASSERT_EQ(events.size(), kEventCapacity);
  EXPECT_EQ(events.front().seq, 300u - kEventCapacity + 1);
  EXPECT_EQ(events.back().reason, "change 299");
  // A writer that died mid-append leaves seq 0: the entry is not read.
  auto* entries = reinterpret_cast<EventEntry*>(s.segment().region(RegionId::events) + sizeof(EventLogHeader));
  entries[(300 - 1) % kEventCapacity].seq.store(0);
  events = read_events(s.segment());
  EXPECT_EQ(events.back().seq, 299u);
}

}  // namespace
}  // namespace canary
