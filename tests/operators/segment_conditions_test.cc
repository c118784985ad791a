// Spec §5 profile, absence and sequence conditions, and Compile's refusals.
#include <gtest/gtest.h>

#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::Changes;
using segtest::Evaluate;
using segtest::In;
using segtest::OneSegment;

constexpr char kProfile[] = "profile: {event: identify}\n";

TEST(SegmentConditionsTest, ProfileAsOfTMergesUpdates) {
  JobSpec job = OneSegment("{profile: {tier: gold, \"address.country\": DE}}", "", kProfile);
  EXPECT_EQ(Evaluate(job, {{"u", "identify", 100, R"({"tier":"gold"})"},
                           {"u", "identify", 110, R"({"address":{"country":"DE","city":"B"}})"},
                           {"u", "identify", 120, R"({"name":"x"})"},  // other keys keep the rest
                           {"u", "identify", 130, R"({"address":{"city":"M"}})"},  // replaced whole
                           {"u", "identify", 140, R"({"address":{"country":"DE"}})"}},
                     1000),
            (Changes{"s u +110", "s u -130", "s u +140"}));
}

TEST(SegmentConditionsTest, ProfileTieAtOneTimestampGoesToTheLaterRecord) {
  JobSpec job = OneSegment("{profile: {tier: gold}}", "", kProfile);
  std::vector<In> events = {{"u", "identify", 100, R"({"tier":"silver"})"},
                            {"u", "identify", 100, R"({"tier":"gold"})"},
                            {"u", "identify", 200, R"({"tier":"gold","x":1})"},
                            {"u", "identify", 200, R"({"x":2})"}};
  EXPECT_EQ(Evaluate(job, events, 1000), (Changes{"s u +100"}));
  EXPECT_EQ(Evaluate(job, events, 1000, {1, 0, 3, 2}), (Changes{"s u +100"}));
  std::vector<In> reversed = {{"u", "identify", 100, R"({"tier":"gold"})"},
                              {"u", "identify", 100, R"({"tier":"silver"})"}};
  EXPECT_EQ(Evaluate(job, reversed, 1000, {1, 0}), Changes{});
}

TEST(SegmentConditionsTest, ProfilePredicatesOnMissingAttributes) {
  JobSpec job = OneSegment("{profile: {vip: {ne: true}, score: {exists: false}}}", "", kProfile);
  // The user exists (any event) with an empty profile: ne and exists:false hold.
  EXPECT_EQ(Evaluate(job, {{"u", "view", 5}, {"u", "identify", 7, R"({"score":null})"}}, 100),
            (Changes{"s u +5", "s u -7"}));
}

TEST(SegmentConditionsTest, ProfileNeedsTheProfileEventType) {
  JobSpec job = OneSegment("{profile: {tier: gold}}", "", kProfile);
  EXPECT_EQ(Evaluate(job, {{"u", "signup", 100, R"({"tier":"gold"})"}}, 1000), Changes{});
}

constexpr char kAbsence[] = "{absence: {after: {event: cart}, missing: {event: buy}, within: 30ms}}";

TEST(SegmentConditionsTest, AbsenceHoldsFromTheDeadline) {
  JobSpec job = OneSegment(kAbsence);
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}}, 1000), (Changes{"s u +130"}));
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}}, 129), Changes{});
  // A buy ends it; the next cart starts a new deadline.
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "buy", 140}, {"u", "cart", 150}}, 1000),
            (Changes{"s u +130", "s u -140", "s u +180"}));
}

TEST(SegmentConditionsTest, AbsenceMissingAtExactlyAfterTsOrDeadlineCancels) {
  JobSpec job = OneSegment(kAbsence);
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "buy", 100}}, 1000), Changes{});
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "buy", 130}}, 1000), Changes{});
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "buy", 131}}, 1000), (Changes{"s u +130", "s u -131"}));
  // A buy before the cart does not cancel it.
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 99}, {"u", "cart", 100}}, 1000), (Changes{"s u +130"}));
}

TEST(SegmentConditionsTest, AbsenceOnlyTheEarliestUncancelledAfterMatters) {
  JobSpec job = OneSegment(kAbsence);
  // carts at 100 and 120, buy at 125 cancels both (a.ts <= m.ts); cart at 140 -> 170.
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "cart", 120}, {"u", "buy", 125}, {"u", "cart", 140}}, 1000),
            (Changes{"s u +170"}));
  // carts at 100 and 120 without a buy: the first one decides (130).
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "cart", 120}}, 1000), (Changes{"s u +130"}));
}

TEST(SegmentConditionsTest, AbsenceAfterThatAlsoMatchesMissingCancelsItself) {
  JobSpec job = OneSegment("{absence: {after: {event: ping}, missing: {event: \"*\"}, within: 10ms}}");
  EXPECT_EQ(Evaluate(job, {{"u", "ping", 100}}, 1000), Changes{});
  JobSpec where = OneSegment(
      "{absence: {after: {event: pay}, missing: {event: pay, where: {ok: true}}, within: 10ms}}");
  EXPECT_EQ(Evaluate(where, {{"u", "pay", 100, R"({"ok":true})"}, {"u", "pay", 200, R"({"ok":false})"}}, 1000),
            (Changes{"s u +210"}));
}

TEST(SegmentConditionsTest, AbsenceWithZeroWithinHoldsAtTheAfterInstant) {
  JobSpec job = OneSegment("{absence: {after: {event: cart}, missing: {event: buy}, within: 0ms}}");
  EXPECT_EQ(Evaluate(job, {{"u", "cart", 100}, {"u", "buy", 105}}, 1000), (Changes{"s u +100", "s u -105"}));
}

TEST(SegmentConditionsTest, SequenceNeedsStrictlyIncreasingTimestamps) {
  JobSpec job = OneSegment("{sequence: {steps: [{event: a}, {event: b}], within: 10ms}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "b", 100}}, 1000), Changes{});
  EXPECT_EQ(Evaluate(job, {{"u", "b", 100}, {"u", "a", 100}, {"u", "b", 101}}, 1000), (Changes{"s u +101"}));
  // One event matching both steps cannot be both.
  JobSpec same = OneSegment("{sequence: {steps: [{event: a}, {event: a}], within: 10ms}}");
  EXPECT_EQ(Evaluate(same, {{"u", "a", 100}, {"u", "a", 100}}, 1000), Changes{});
  EXPECT_EQ(Evaluate(same, {{"u", "a", 100}, {"u", "a", 110}}, 1000), (Changes{"s u +110"}));
}

TEST(SegmentConditionsTest, SequenceWithinBoundsFirstToLast) {
  JobSpec job = OneSegment("{sequence: {steps: [{event: a}, {event: b}, {event: c}], within: 10ms}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "b", 105}, {"u", "c", 110}}, 1000), (Changes{"s u +110"}));
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "b", 105}, {"u", "c", 111}}, 1000), Changes{});
  // A later a restarts a chain that still fits: a@104 b@105 c@111 -> 7ms.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 104}, {"u", "b", 105}, {"u", "c", 111}}, 1000),
            (Changes{"s u +111"}));
  // But an a after the b does not help that b.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "b", 102}, {"u", "a", 106}, {"u", "c", 111}}, 1000),
            Changes{});
}

TEST(SegmentConditionsTest, SequenceWindowCountsFromTheLastStep) {
  JobSpec job = OneSegment("{sequence: {steps: [{event: a}, {event: b}], within: 10ms, window: 5ms}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "b", 101}, {"u", "b", 104}}, 1000),
            (Changes{"s u +101", "s u -109"}));
  JobSpec lifetime = OneSegment("{sequence: {steps: [{event: a}, {event: b}], within: 10ms}}");
  EXPECT_EQ(Evaluate(lifetime, {{"u", "a", 100}, {"u", "b", 101}}, 100000), (Changes{"s u +101"}));
}

TEST(SegmentConditionsTest, SingleStepSequence) {
  JobSpec job = OneSegment("{sequence: {steps: [{event: a, where: {x: 1}}], within: 0ms, window: 3ms}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100, R"({"x":1})"}, {"u", "a", 101, R"({"x":2})"}}, 1000),
            (Changes{"s u +100", "s u -103"}));
}

TEST(SegmentConditionsTest, CompileRefusesMalformedSpecs) {
  JobSpec job = OneSegment("{count: {event: a, at_least: 1}}");
  JobSpec bad = job;
  bad.segments[0].when.at_least.reset();
  auto r = SegmentProgram::Compile(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("segment \"s\": condition \"count\""), std::string::npos)
      << r.status().message();

  bad = job;
  bad.segments[0].when = Condition();
  bad.segments[0].when.kind = Condition::Kind::kSegment;
  bad.segments[0].when.segment_ref = "s";
  r = SegmentProgram::Compile(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cycle"), std::string::npos) << r.status().message();

  bad.segments[0].when.segment_ref = "nope";
  r = SegmentProgram::Compile(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown segment \"nope\""), std::string::npos);

  bad = job;
  bad.segments[0].when = Condition();
  bad.segments[0].when.kind = Condition::Kind::kSequence;
  r = SegmentProgram::Compile(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("\"sequence\""), std::string::npos);
}

TEST(SegmentConditionsTest, ProjectSharesEqualMatchesAndReadsOnlyNeededFields) {
  JobSpec job = segtest::ParseJob(
      "  - id: x\n"
      "    when: {count: {event: a, where: {k: 1}, at_least: 1}}\n"
      "  - id: y\n"
      "    when: {sum: {event: a, where: {k: 1}, field: v, gt: 0}}\n"
      "    membership: {exit_on: {event: b}}\n",
      kProfile);
  auto program = segtest::Compile(job);
  ASSERT_TRUE(program);
  ProjectedEvent pe;
  program->Project(segtest::MakeEvent({"u", "a", 5, R"({"k":1,"v":2.5,"big":"ignored"})"}), 9, &pe);
  EXPECT_EQ(pe.ts, 5);
  EXPECT_EQ(pe.seq, 9u);
  ASSERT_EQ(pe.match_bits.size(), 1u);
  EXPECT_EQ(pe.match_bits[0], 1u);  // one shared matcher for both conditions; exit_on unset
  ASSERT_EQ(pe.fields.size(), 1u);
  EXPECT_EQ(pe.fields[0].kind, ProjectedEvent::FieldValue::Kind::kNumber);
  EXPECT_EQ(pe.fields[0].number, 2.5);
  EXPECT_FALSE(pe.is_profile);  // no profile condition reads it
  EXPECT_EQ(pe.consent, -1);

  program->Project(segtest::MakeEvent({"u", "b", 6, R"({"v":3})"}), 10, &pe);
  EXPECT_EQ(pe.match_bits[0], 2u);
  EXPECT_TRUE(pe.fields.empty());  // no matcher that reads v holds
}

}  // namespace
}  // namespace segflow
