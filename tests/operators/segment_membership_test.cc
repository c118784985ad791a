// Spec §6 membership and §9 "Same instant": duration, exit_on, cooldown, consent,
// segment references and arrival-order independence.
#include <algorithm>
#include <numeric>

#include <gtest/gtest.h>

#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::Changes;
using segtest::Evaluate;
using segtest::In;
using segtest::OneSegment;
using segtest::ParseJob;

constexpr char kWithinFifty[] = "{count: {event: a, window: 50ms, at_least: 1}}";

TEST(SegmentMembershipTest, DurationEndsMembershipAndRearmsOnlyAfterTheConditionFails) {
  JobSpec job = OneSegment(kWithinFifty, "{duration: 10ms}");
  // +100, duration ends at 110 while the condition holds (armed = false); a@120 keeps it
  // true, so no re-entry; it turns false at 170 (re-armed) and true again at 200.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 120}, {"u", "a", 200}}, 1000),
            (Changes{"s u +100", "s u -110", "s u +200", "s u -210"}));
}

TEST(SegmentMembershipTest, ConditionFailingBeforeDurationEndsExitsThen) {
  JobSpec job = OneSegment("{count: {event: a, window: 5ms, at_least: 1}}", "{duration: 10ms}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 1000), (Changes{"s u +100", "s u -105"}));
}

TEST(SegmentMembershipTest, ExitOnEventExitsAndNeedsTheConditionToFailFirst) {
  JobSpec job = OneSegment(kWithinFifty, "{exit_on: {event: buy}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "buy", 110}, {"u", "a", 120}, {"u", "a", 200}}, 1000),
            // buy@110 exits; condition true until 170 -> not armed; true again at 200.
            (Changes{"s u +100", "s u -110", "s u +200", "s u -250"}));
}

TEST(SegmentMembershipTest, ExitOnRespectsWhere) {
  JobSpec job = OneSegment(kWithinFifty, "{exit_on: {event: buy, where: {ok: true}}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "buy", 110, R"({"ok":false})"}, {"u", "buy", 120, R"({"ok":true})"}},
                     1000),
            (Changes{"s u +100", "s u -120"}));
}

TEST(SegmentMembershipTest, ReentryAtExactlyCooldownUntil) {
  JobSpec job = OneSegment("{count: {event: a, window: 10ms, at_least: 1}}", "{cooldown: 50ms}");
  // Exit at 110 (condition false, armed) -> cooldown until 160. a@130 is inside the
  // cooldown; a@155 holds the condition over 160, so the user re-enters at exactly 160.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 130}, {"u", "a", 155}}, 1000),
            (Changes{"s u +100", "s u -110", "s u +160", "s u -165"}));
  // A condition that turns true exactly at cooldown_until enters then.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 160}}, 1000),
            (Changes{"s u +100", "s u -110", "s u +160", "s u -170"}));
  // One millisecond earlier and gone before the cooldown ends: no entry.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 149}}, 1000), (Changes{"s u +100", "s u -110"}));
}

TEST(SegmentMembershipTest, CooldownAfterExitOnStillNeedsRearming) {
  JobSpec job = OneSegment(kWithinFifty, "{exit_on: {event: buy}, cooldown: 20ms}");
  // buy@110: exit, cooldown until 130, armed false (condition still true). At 130 the
  // condition still holds but the user is not armed; it fails at 170; a@180 re-enters.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "buy", 110}, {"u", "a", 180}}, 1000),
            (Changes{"s u +100", "s u -110", "s u +180", "s u -230"}));
}

TEST(SegmentMembershipTest, EnterAndExitInOneInstantLeavesNoRecord) {
  JobSpec job = OneSegment("{count: {event: [a, buy], window: 50ms, at_least: 1}}", "{exit_on: {event: buy}}");
  // buy@100 makes the condition true and is the exit_on event: no record, armed false.
  // The condition stays true until 150, so a@120 does not enter; a@200 does.
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 100}, {"u", "a", 120}, {"u", "a", 200}}, 1000),
            (Changes{"s u +200", "s u -250"}));
  JobSpec zero = OneSegment(kWithinFifty, "{duration: 0ms}");
  EXPECT_EQ(Evaluate(zero, {{"u", "a", 100}, {"u", "a", 120}}, 1000), Changes{});
}

TEST(SegmentMembershipTest, MemberExitingAtTDoesNotReenterAtT) {
  JobSpec job = OneSegment(kWithinFifty, "{exit_on: {event: buy}}");
  // a and buy at 110 while a member: exit at 110, no re-entry at 110.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 110}, {"u", "buy", 110}}, 1000),
            (Changes{"s u +100", "s u -110"}));
}

TEST(SegmentMembershipTest, ConsentWithdrawnAndReturned) {
  const std::string consent = "consent: {event: consent, field: granted, default: granted}\n";
  JobSpec job = OneSegment("{count: {event: a, at_least: 1}}", "", consent);
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "consent", 105, R"({"granted":false})"},
                           {"u", "consent", 110, R"({"granted":"yes"})"},  // not a boolean: no change
                           {"u", "consent", 115, R"({})"},                // missing: no change
                           {"u", "consent", 120, R"({"granted":true})"}},
                     1000),
            (Changes{"s u +100", "s u -105", "s u +120"}));
}

TEST(SegmentMembershipTest, ConsentDefaultDenied) {
  const std::string consent = "consent: {event: consent, field: granted, default: denied}\n";
  JobSpec job = OneSegment("{count: {event: a, at_least: 1}}", "", consent);
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 1000), Changes{});
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "consent", 130, R"({"granted":true})"}}, 1000),
            (Changes{"s u +130"}));
  // The consent event itself counts towards a "*" condition like any other event.
  JobSpec star = OneSegment("{count: {event: \"*\", at_least: 1}}", "", consent);
  EXPECT_EQ(Evaluate(star, {{"u", "consent", 7, R"({"granted":true})"}}, 1000), (Changes{"s u +7"}));
}

TEST(SegmentMembershipTest, ConsentTieAtOneTimestampGoesToTheLaterRecord) {
  const std::string consent = "consent: {event: consent, field: granted, default: granted}\n";
  JobSpec job = OneSegment("{count: {event: a, at_least: 1}}", "", consent);
  std::vector<In> events = {{"u", "a", 100},
                            {"u", "consent", 110, R"({"granted":true})"},
                            {"u", "consent", 110, R"({"granted":false})"}};
  // seq is the position in `events`: the false one is later in the log, whatever the arrival.
  EXPECT_EQ(Evaluate(job, events, 1000), (Changes{"s u +100", "s u -110"}));
  EXPECT_EQ(Evaluate(job, events, 1000, {0, 2, 1}), (Changes{"s u +100", "s u -110"}));
}

TEST(SegmentMembershipTest, SegmentReferenceReadsMembershipAtTheSameInstant) {
  JobSpec job = ParseJob(
      "  - id: base\n"
      "    when: {count: {event: a, window: 50ms, at_least: 1}}\n"
      "    membership: {duration: 10ms}\n"
      "  - id: ref\n"
      "    when: {segment: base}\n"
      "  - id: neg\n"
      "    when: {all: [{count: {event: a, at_least: 1}}, {not: {segment: base}}]}\n");
  // base: +100 -110. ref follows it at the same instants; neg is its complement.
  // Changes of one instant are in segment (file) order.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 1000),
            (Changes{"base u +100", "ref u +100", "base u -110", "ref u -110", "neg u +110"}));
}

TEST(SegmentMembershipTest, ReferencesAreEvaluatedInDependencyOrderNotFileOrder) {
  JobSpec job = ParseJob(
      "  - id: outer\n"
      "    when: {segment: inner}\n"
      "  - id: inner\n"
      "    when: {count: {event: a, at_least: 1}}\n"
      "    membership: {duration: 0ms}\n");
  // inner enters and exits at 100 (no record): outer never sees it as a member.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 1000), Changes{});
  JobSpec live = ParseJob(
      "  - id: outer\n"
      "    when: {segment: inner}\n"
      "  - id: inner\n"
      "    when: {count: {event: a, at_least: 1}}\n");
  EXPECT_EQ(Evaluate(live, {{"u", "a", 100}}, 1000), (Changes{"outer u +100", "inner u +100"}));
}

TEST(SegmentMembershipTest, SameTimestampArrivalOrderDoesNotMatter) {
  const std::string consent = "consent: {event: consent, field: granted, default: granted}\n";
  JobSpec job = ParseJob(
      "  - id: s\n"
      "    when: {all: [{count: {event: a, window: 20ms, at_least: 2}}, {max: {event: a, field: v, window: 20ms, lt: 10}}]}\n"
      "    membership: {exit_on: {event: buy}}\n"
      "  - id: d\n"
      "    when: {distinct: {event: a, field: v, window: 20ms, at_least: 2}}\n",
      consent);
  std::vector<In> events = {{"u", "a", 100, R"({"v":3})"}, {"u", "a", 100, R"({"v":3.0})"},
                            {"u", "a", 105, R"({"v":12})"}, {"u", "a", 105, R"({"v":4})"},
                            {"u", "buy", 105},            {"u", "a", 130, R"({"v":1})"},
                            {"u", "a", 130, R"({"v":2})"}, {"w", "a", 130, R"({"v":2})"}};
  const Changes expected = Evaluate(job, events, 1000);
  // s: in at 100 (two events, max 3); out at 105 (max 12, and the buy); re-armed since
  // the condition failed at 105, in at 130 (105's events expired at 125), out at 150.
  // d: keys {3, 12, 4} at 105; all expired at 125; {1, 2} from 130 to 150. w: one event.
  EXPECT_EQ(expected, (Changes{"s u +100", "s u -105", "d u +105", "d u -125", "s u +130",
                               "d u +130", "s u -150", "d u -150"}));
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  int permutations = 0;
  do {
    // Only orders that keep every event on time (ts > every processed instant) are
    // possible; Evaluate adds everything before evaluating, so all permutations are.
    EXPECT_EQ(Evaluate(job, events, 1000, order), expected);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()) && permutations < 400);
}

}  // namespace
}  // namespace segflow
