// VersionSwitch (issue 12 item 3): the switch records of an upgrade's handover are at one
// instant S, move each user from the old version's membership at S to the new one's, and
// the held-back changes around S are the old version's before it and the backfill's after.
#include "operators/runtime/version_switch.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

namespace segflow {
namespace {

PendingChangeState Pending(const std::string& segment, const std::string& user, bool entered,
                           int64_t at) {
  return {0, segment, user, entered, at, 7};
}

TEST(VersionSwitchTest, SwitchesAtTheLaterEvaluatedTimeFromTheMembershipsThere) {
  SinkCheckpointState live, backfill;
  live.has_evaluated = backfill.has_evaluated = true;
  live.evaluated = 100;
  backfill.evaluated = 90;
  // Segment "kept" is unchanged: its held-back change stays. "changed" was edited:
  //   a: old member at S, exits at 120 in the old version; the new one never had a.
  //      At the frontier both say "not a member": no keyed switch change, but at S they differ.
  //   b: new version enters b at 95 (<= S: b is a new member at S) and exits at 110;
  //      old never. At the frontier both: not a member.
  //   c: the keyed tasks say "enters" (new member at the frontier, old not); the new version
  //      entered c at 105 (> S), so at S both say no: no switch record at S.
  //   d: old change at 98 (<= S) is written before the switch; old exits at 98, new member
  //      throughout: the keyed switch says "enters".
  live.pending = {Pending("kept", "k", true, 130), Pending("changed", "a", false, 120),
                  Pending("changed", "d", false, 98)};
  backfill.pending = {Pending("changed", "b", true, 95), Pending("changed", "b", false, 110),
                      Pending("changed", "c", true, 105), Pending("kept", "k", true, 130)};
  std::vector<std::vector<ChangeRecord>> held(1);
  VersionSwitch v =
      VersionSwitch::Plan(live, backfill, {"kept", "changed"}, {false, true}, 1, &held);
  ASSERT_EQ(v.instant(), 100);
  // The live job's in `at` order (changed/d at 98, kept/k), then the backfill's (c at 105, b at
  // 110).
  ASSERT_EQ(held[0].size(), 4u);
  EXPECT_EQ(held[0][0].user, "d");
  EXPECT_EQ(held[0][0].at, 98);
  EXPECT_EQ(held[0][1].user, "k");
  EXPECT_EQ(held[0][2].user, "c");
  EXPECT_EQ(held[0][3].user, "b");
  EXPECT_EQ(held[0][3].at, 110);
  EXPECT_FALSE(held[0][3].entered);
  v.Add(0, ChangeRecord{50, "c", 1, true, std::numeric_limits<uint64_t>::max()});
  v.Add(0, ChangeRecord{50, "d", 1, true, std::numeric_limits<uint64_t>::max()});
  v.Add(0, ChangeRecord{50, "e", 1, false, std::numeric_limits<uint64_t>::max()});  // old only
  std::vector<std::vector<ChangeRecord>> out(1);
  v.Finish(&out);
  std::map<std::string, bool> got;
  for (const auto& c : out[0]) {
    EXPECT_EQ(c.at, 100) << c.user;
    EXPECT_TRUE(c.switched);
    EXPECT_EQ(c.segment, 1u);
    got[c.user] = c.entered;
  }
  // a: old member at S, new not: exits. d: old exited at 98, new member: enters.
  // e: old member, new not: exits. b: a new member at S only: enters. c: no difference.
  const std::map<std::string, bool> want = {{"a", false}, {"b", true}, {"d", true}, {"e", false}};
  EXPECT_EQ(got, want);
}

TEST(VersionSwitchTest, WithoutAMergeKeepsEveryHeldBackChangeOfTheJobsSegments) {
  SinkCheckpointState live;
  live.has_evaluated = true;
  live.evaluated = 10;
  live.pending = {Pending("x", "u", true, 12), Pending("gone", "u", true, 12)};
  std::vector<std::vector<ChangeRecord>> held(1);
  VersionSwitch::Plan(live, SinkCheckpointState(), {"x"}, {false}, 1, &held);
  ASSERT_EQ(held[0].size(), 1u);
  EXPECT_EQ(held[0][0].segment, 0u);
  EXPECT_EQ(held[0][0].at, 12);
}

}  // namespace
}  // namespace segflow
