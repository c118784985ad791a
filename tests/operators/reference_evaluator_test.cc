// The reference evaluator checked on hand-worked cases straight from spec §2, §5, §6, §9,
// and its candidate instants checked against stepping through every millisecond.
#include "reference_evaluator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "random_events.h"

namespace segflow::reference {
namespace {

EventMatch On(const std::string& type) {
  EventMatch m;
  m.events = {type};
  return m;
}

Condition CountAtLeast(const std::string& type, int64_t n, std::optional<int64_t> window) {
  Condition c;
  c.kind = Condition::Kind::kCount;
  c.match = On(type);
  c.at_least = n;
  c.window_ms = window;
  return c;
}

JobSpec OneSegment(Condition when, Membership membership = {}) {
  JobSpec job;
  job.name = "ref";
  SegmentSpec s;
  s.id = "s";
  s.when = std::move(when);
  s.membership = std::move(membership);
  job.segments.push_back(std::move(s));
  return job;
}

// Records of one partition, offsets in the order given.
std::vector<LogRecord> Log(const std::vector<std::tuple<std::string, std::string, int64_t>>& evs,
                           std::vector<Value> props = {}) {
  std::vector<LogRecord> out;
  for (size_t i = 0; i < evs.size(); ++i) {
    LogRecord r;
    r.partition = 0;
    r.offset = i;
    r.event.user = std::get<0>(evs[i]);
    r.event.type = std::get<1>(evs[i]);
    r.event.ts = std::get<2>(evs[i]);
    if (i < props.size()) r.event.props = props[i];
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Change> Changes(const std::vector<std::tuple<int64_t, std::string, bool>>& list) {
  std::vector<Change> out;
  for (const auto& [at, user, entered] : list) out.push_back({at, user, 0, entered});
  return out;
}

Value Obj(ValueObject o) { return Value::Object(std::move(o)); }

TEST(ReferenceEvaluatorTest, WindowCountsFromOwnInstantUntilBeforeTsPlusWindow) {
  ReferenceEvaluator ref(OneSegment(CountAtLeast("view", 1, 10)), Log({{"u", "view", 5}}));
  EXPECT_EQ(ref.Changelog(100), Changes({{5, "u", true}, {15, "u", false}}));
  EXPECT_EQ(ref.MembersAt("s", 4), std::vector<std::string>{});
  EXPECT_EQ(ref.MembersAt("s", 14), std::vector<std::string>{"u"});
  EXPECT_EQ(ref.MembersAt("s", 15), std::vector<std::string>{});
  EXPECT_EQ(ref.Changelog(14), Changes({{5, "u", true}}));
}

TEST(ReferenceEvaluatorTest, LateRecordsHaveNoEffect) {
  JobSpec job = OneSegment(CountAtLeast("view", 1, std::nullopt));
  job.source.max_out_of_orderness_ms = 3;
  // max_prev 10: ts 7 is on time (7 >= 10 - 3), ts 6 is late; v is late and never exists.
  ReferenceEvaluator ref(job, Log({{"u", "view", 10}, {"w", "view", 7}, {"v", "view", 6}}));
  EXPECT_FALSE(ref.IsLate(0, 0));
  EXPECT_FALSE(ref.IsLate(0, 1));
  EXPECT_TRUE(ref.IsLate(0, 2));
  EXPECT_EQ(ref.late_count(), 1u);
  EXPECT_EQ(ref.MembersAt("s", 100), (std::vector<std::string>{"u", "w"}));
}

TEST(ReferenceEvaluatorTest, LatenessIsPerPartition) {
  JobSpec job = OneSegment(CountAtLeast("view", 1, std::nullopt));
  std::vector<LogRecord> log = Log({{"u", "view", 10}, {"w", "view", 2}});
  log[1].partition = 1;
  log[1].offset = 0;
  ReferenceEvaluator ref(job, log);
  EXPECT_EQ(ref.late_count(), 0u);
  EXPECT_EQ(ref.MembersAt("s", 10), (std::vector<std::string>{"u", "w"}));
}

TEST(ReferenceEvaluatorTest, DurationExitNeedsConditionFalseBeforeReentry) {
  Membership m;
  m.duration_ms = 5;
  ReferenceEvaluator ref(OneSegment(CountAtLeast("view", 1, 20), m),
                         Log({{"u", "view", 0}, {"u", "view", 10}, {"u", "view", 30}}));
  // Enters at 0 and leaves at 5 (duration) disarmed; the condition then holds without a
  // break until 50, so there is no re-entry.
  EXPECT_EQ(ref.Changelog(100), Changes({{0, "u", true}, {5, "u", false}}));

  ReferenceEvaluator rearmed(OneSegment(CountAtLeast("view", 1, 20), m),
                             Log({{"u", "view", 0}, {"u", "view", 31}}));
  // False at 20 re-arms; the event at 31 enters again, duration ends at 36.
  EXPECT_EQ(rearmed.Changelog(100), Changes({{0, "u", true},
                                             {5, "u", false},
                                             {31, "u", true},
                                             {36, "u", false}}));
}

TEST(ReferenceEvaluatorTest, CooldownDelaysReentryToCooldownEnd) {
  Membership m;
  m.cooldown_ms = 10;
  ReferenceEvaluator ref(OneSegment(CountAtLeast("view", 1, 3), m),
                         Log({{"u", "view", 0}, {"u", "view", 5}, {"u", "view", 12}}));
  // Exit at 3 (window), cooldown until 13: true at 5..7 is ignored; true at 12..14 enters
  // at exactly 13 and leaves at 15.
  EXPECT_EQ(ref.Changelog(100), Changes({{0, "u", true},
                                         {3, "u", false},
                                         {13, "u", true},
                                         {15, "u", false}}));
}

TEST(ReferenceEvaluatorTest, EntryAndExitOnInOneInstantRecordsNothingAndDisarms) {
  Membership m;
  m.exit_on = On("buy");
  ReferenceEvaluator ref(OneSegment(CountAtLeast("view", 1, std::nullopt), m),
                         Log({{"u", "view", 0}, {"u", "buy", 0}, {"u", "view", 4}}));
  EXPECT_TRUE(ref.Changelog(100).empty());

  ReferenceEvaluator later(OneSegment(CountAtLeast("view", 1, std::nullopt), m),
                           Log({{"u", "view", 0}, {"u", "buy", 2}, {"u", "view", 4}}));
  EXPECT_EQ(later.Changelog(100), Changes({{0, "u", true}, {2, "u", false}}));
}

TEST(ReferenceEvaluatorTest, ZeroDurationNeverRecords) {
  Membership m;
  m.duration_ms = 0;
  ReferenceEvaluator ref(OneSegment(CountAtLeast("view", 1, 2), m),
                         Log({{"u", "view", 0}, {"u", "view", 10}}));
  EXPECT_TRUE(ref.Changelog(100).empty());
}

TEST(ReferenceEvaluatorTest, ConsentTieIsDecidedByOffset) {
  JobSpec job = OneSegment(CountAtLeast("view", 1, std::nullopt));
  job.consent = ConsentSpec{"consent", "granted", false};
  Value yes = Obj({{"granted", Value::Bool(true)}});
  Value no = Obj({{"granted", Value::Bool(false)}});
  Value junk = Obj({{"granted", Value::String("yes")}});
  // Denied by default; at 5 granted then denied (offset order): denied; at 8 granted, then
  // an invalid consent event that changes nothing.
  ReferenceEvaluator ref(job, Log({{"u", "view", 0},
                                   {"u", "consent", 5},
                                   {"u", "consent", 5},
                                   {"u", "consent", 8},
                                   {"u", "consent", 9}},
                                  {Obj({}), yes, no, yes, junk}));
  EXPECT_EQ(ref.Changelog(100), Changes({{8, "u", true}}));
}

TEST(ReferenceEvaluatorTest, ProfileMergesTopLevelPropertiesLaterOffsetWinsTies) {
  Condition c;
  c.kind = Condition::Kind::kProfile;
  Predicate gold;
  gold.ops = {{PredOp::kEq, Value::String("gold")}};
  c.profile = {{"tier", gold}};
  JobSpec job = OneSegment(c);
  job.profile = ProfileSpec{"identify"};
  ReferenceEvaluator ref(job, Log({{"u", "identify", 1},
                                   {"u", "identify", 3},
                                   {"u", "identify", 3},
                                   {"u", "identify", 6}},
                                  {Obj({{"tier", Value::String("gold")}}),
                                   Obj({{"tier", Value::String("gold")}}),
                                   Obj({{"tier", Value::String("silver")}}),
                                   Obj({{"age", Value::Int(3)}})}));
  // gold at 1; at 3 silver wins the tie; the age-only update at 6 keeps silver.
  EXPECT_EQ(ref.Changelog(100), Changes({{1, "u", true}, {3, "u", false}}));
}

TEST(ReferenceEvaluatorTest, AbsenceDeadlineAndMissingBoundaries) {
  Condition c;
  c.kind = Condition::Kind::kAbsence;
  c.after = On("cart");
  c.missing = On("buy");
  c.within_ms = 10;
  // missing exactly at a.ts + within: never holds.
  EXPECT_TRUE(ReferenceEvaluator(OneSegment(c), Log({{"u", "cart", 0}, {"u", "buy", 10}}))
                  .Changelog(100)
                  .empty());
  // missing after the deadline: holds from 10, stops at 11.
  EXPECT_EQ(ReferenceEvaluator(OneSegment(c), Log({{"u", "cart", 0}, {"u", "buy", 11}}))
                .Changelog(100),
            Changes({{10, "u", true}, {11, "u", false}}));
  // missing exactly at a.ts cancels it.
  EXPECT_TRUE(ReferenceEvaluator(OneSegment(c), Log({{"u", "cart", 0}, {"u", "buy", 0}}))
                  .Changelog(100)
                  .empty());
  // An after event that also matches missing cancels itself.
  Condition self = c;
  self.missing = self.after;
  EXPECT_TRUE(ReferenceEvaluator(OneSegment(self), Log({{"u", "cart", 0}})).Changelog(100).empty());
}

TEST(ReferenceEvaluatorTest, SequenceNeedsStrictlyIncreasingTimes) {
  Condition c;
  c.kind = Condition::Kind::kSequence;
  c.steps = {On("view"), On("cart")};
  c.within_ms = 5;
  EXPECT_TRUE(ReferenceEvaluator(OneSegment(c), Log({{"u", "cart", 0}, {"u", "view", 0}}))
                  .Changelog(100)
                  .empty());
  EXPECT_EQ(ReferenceEvaluator(OneSegment(c), Log({{"u", "view", 0}, {"u", "cart", 5}}))
                .Changelog(100),
            Changes({{5, "u", true}}));
  EXPECT_TRUE(ReferenceEvaluator(OneSegment(c), Log({{"u", "view", 0}, {"u", "cart", 6}}))
                  .Changelog(100)
                  .empty());
  c.window_ms = 3;  // ek.ts > t - window: holds for [5, 8)
  EXPECT_EQ(ReferenceEvaluator(OneSegment(c), Log({{"u", "view", 0}, {"u", "cart", 5}}))
                .Changelog(100),
            Changes({{5, "u", true}, {8, "u", false}}));
}

TEST(ReferenceEvaluatorTest, AggregatesAndDistinctFollowTheirDefinitions) {
  Condition sum;
  sum.kind = Condition::Kind::kSum;
  sum.match = On("buy");
  sum.field = "n";
  sum.bounds = {{CmpOp::kLte, 0}};  // sum of nothing is 0
  Condition avg = sum;
  avg.kind = Condition::Kind::kAvg;
  avg.bounds = {{CmpOp::kEq, 2.5}};
  Condition distinct;
  distinct.kind = Condition::Kind::kDistinct;
  distinct.match = On("buy");
  distinct.field = "n";
  distinct.at_least = 3;
  std::vector<LogRecord> log =
      Log({{"u", "view", 0}, {"u", "buy", 1}, {"u", "buy", 2}, {"u", "buy", 3}, {"u", "buy", 4}},
          {Obj({}), Obj({{"n", Value::Int(2)}}), Obj({{"n", Value::Double(3.0)}}),
           Obj({{"n", Value::String("3")}}), Obj({{"n", Value::Int(3)}})});
  EXPECT_EQ(ReferenceEvaluator(OneSegment(sum), log).Changelog(100),
            Changes({{0, "u", true}, {1, "u", false}}));
  // avg 2 at 1, 2.5 at 2 ("3" is not numeric), 8/3 at 4.
  EXPECT_EQ(ReferenceEvaluator(OneSegment(avg), log).Changelog(100),
            Changes({{2, "u", true}, {4, "u", false}}));
  // 2, 3.0, "3" are three values at 3; the int 3 adds none.
  EXPECT_EQ(ReferenceEvaluator(OneSegment(distinct), log).Changelog(100),
            Changes({{3, "u", true}}));
}

TEST(ReferenceEvaluatorTest, SegmentReferenceSeesMembershipAfterItsRules) {
  Membership m;
  m.duration_ms = 4;
  JobSpec job = OneSegment(CountAtLeast("view", 1, std::nullopt), m);
  SegmentSpec ref_segment;
  ref_segment.id = "t";
  ref_segment.when.kind = Condition::Kind::kNot;
  Condition inner;
  inner.kind = Condition::Kind::kSegment;
  inner.segment_ref = "s";
  ref_segment.when.children = {inner};
  // Listed first, evaluated after "s" (dependency order).
  job.segments.insert(job.segments.begin(), ref_segment);
  ReferenceEvaluator ref(job, Log({{"u", "view", 0}}));
  std::vector<Change> expected = {{0, "u", 1, true}, {4, "u", 0, true}, {4, "u", 1, false}};
  EXPECT_EQ(ref.Changelog(100), expected);
}

TEST(ReferenceEvaluatorTest, NotHoldsForExistingUsersOnlyFromTheirFirstEvent) {
  Condition c;
  c.kind = Condition::Kind::kNot;
  c.children = {CountAtLeast("buy", 1, std::nullopt)};
  ReferenceEvaluator ref(OneSegment(c), Log({{"u", "view", 7}, {"w", "buy", 3}}));
  EXPECT_EQ(ref.Changelog(100), Changes({{7, "u", true}}));
  EXPECT_EQ(ref.MembersAt("s", 6), std::vector<std::string>{});
}

// The candidate instants are an optimisation of "at every instant" (§6): they must give
// exactly what stepping through every millisecond gives.
TEST(ReferenceEvaluatorTest, CandidateInstantsEqualEveryMillisecond) {
  const Family families[] = {Family::kCounts,  Family::kMembership, Family::kConsent,
                             Family::kProfile, Family::kAbsence,    Family::kSequence,
                             Family::kSegmentRefs};
  for (Family family : families) {
    for (uint64_t seed = 0; seed < 15; ++seed) {
      Result<RandomCase> c = MakeRandomCase(family, seed);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      ReferenceEvaluator fast(c->job, c->arrival);
      ReferenceEvaluator slow(c->job, c->arrival,
                              ReferenceEvaluator::Options{.every_millisecond_until = c->until});
      ASSERT_EQ(fast.Changelog(c->until), slow.Changelog(c->until)) << c->Describe();
    }
  }
}

}  // namespace
}  // namespace segflow::reference
