// Spec §5 windows and aggregates: every window edge and bound, hand-computed.
#include <gtest/gtest.h>

#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::Changes;
using segtest::In;
using segtest::OneSegment;
using segtest::Evaluate;

TEST(SegmentWindowTest, EventCountsFromItsInstantUntilTsPlusWindow) {
  JobSpec job = OneSegment("{count: {event: a, window: 10ms, at_least: 1}}");
  // In at 100 (its own instant), out at exactly 110 (100 + window no longer counts).
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 200), (Changes{"s u +100", "s u -110"}));
  // Evaluated only up to 109: still a member, no exit yet.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 109), (Changes{"s u +100"}));
}

TEST(SegmentWindowTest, AtLeastTwoNeedsBothInsideTheWindow) {
  JobSpec job = OneSegment("{count: {event: a, window: 10ms, at_least: 2}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 109}}, 200), (Changes{"s u +109", "s u -110"}));
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 110}}, 200), Changes{});
  // Two at one instant count twice.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 100}}, 200), (Changes{"s u +100", "s u -110"}));
}

TEST(SegmentWindowTest, CountExpiresOneEventAtATime) {
  JobSpec job = OneSegment("{count: {event: a, window: 10ms, at_least: 2}}");
  // Counts: 100:1 103:2 106:3 110:2 113:1 -> out at 113.
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 103}, {"u", "a", 106}}, 200),
            (Changes{"s u +103", "s u -113"}));
}

TEST(SegmentWindowTest, AtMostZeroHoldsForAUserWhoseEventsDoNotMatch) {
  JobSpec job = OneSegment("{count: {event: a, window: 10ms, at_most: 0}}");
  EXPECT_EQ(Evaluate(job, {{"u", "b", 50}}, 200), (Changes{"s u +50"}));
  // A matching event takes the user out until it expires.
  EXPECT_EQ(Evaluate(job, {{"u", "b", 50}, {"u", "a", 60}}, 200), (Changes{"s u +50", "s u -60", "s u +70"}));
  // A user whose first event matches enters only when it leaves the window.
  EXPECT_EQ(Evaluate(job, {{"v", "a", 100}}, 200), (Changes{"s v +110"}));
  // Users who never had an event do not exist: nothing for them.
  EXPECT_EQ(Evaluate(job, {}, 200), Changes{});
}

TEST(SegmentWindowTest, BetweenIsInclusive) {
  JobSpec job = OneSegment("{count: {event: a, window: 100ms, between: [2, 3]}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 10}, {"u", "a", 20}, {"u", "a", 30}, {"u", "a", 40}}, 1000),
            // 20: 2 in; 40: 4 out; 110 (10 expires): 3 in; 130 (30 expires): 1 out.
            (Changes{"s u +20", "s u -40", "s u +110", "s u -130"}));
}

TEST(SegmentWindowTest, LifetimeCountWithoutWindow) {
  JobSpec job = OneSegment("{count: {event: a, at_least: 3}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 1}, {"u", "b", 2}, {"u", "a", 1000000}, {"u", "a", 5000000000}},
                6000000000),
            (Changes{"s u +5000000000"}));
  JobSpec at_most = OneSegment("{count: {event: a, at_most: 1}}");
  EXPECT_EQ(Evaluate(at_most, {{"u", "a", 1}, {"u", "a", 2}, {"u", "a", 3}}, 100), (Changes{"s u +1", "s u -2"}));
}

TEST(SegmentWindowTest, WhereFiltersCountedEvents) {
  JobSpec job = OneSegment("{count: {event: [a, b], where: {genre: doc}, window: 10ms, at_least: 2}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100, R"({"genre":"doc"})"}, {"u", "a", 101, R"({"genre":"news"})"},
                      {"u", "b", 102, R"({"genre":"doc"})"}, {"u", "c", 103, R"({"genre":"doc"})"}},
                200),
            (Changes{"s u +102", "s u -110"}));
}

TEST(SegmentWindowTest, StarMatchesEveryEvent) {
  JobSpec job = OneSegment("{count: {event: \"*\", window: 10ms, at_least: 2}}");
  EXPECT_EQ(Evaluate(job, {{"u", "x", 100}, {"u", "y", 105}}, 200), (Changes{"s u +105", "s u -110"}));
}

TEST(SegmentWindowTest, SumOverWindow) {
  JobSpec job = OneSegment("{sum: {event: buy, field: price, window: 10ms, gte: 10}}");
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 100, R"({"price":4})"}, {"u", "buy", 105, R"({"price":6.0})"}}, 200),
            (Changes{"s u +105", "s u -110"}));
  // Non-numeric and missing values are skipped, not counted as 0 or errors.
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 100, R"({"price":"9"})"}, {"u", "buy", 101, R"({})"},
                      {"u", "buy", 102, R"({"price":[9]})"}, {"u", "buy", 103, R"({"price":9})"}},
                200),
            Changes{});
}

TEST(SegmentWindowTest, SumOfNothingIsZero) {
  JobSpec job = OneSegment("{sum: {event: buy, field: price, window: 10ms, lte: 0}}");
  EXPECT_EQ(Evaluate(job, {{"u", "view", 100}}, 200), (Changes{"s u +100"}));
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 100, R"({"price":5})"}}, 200), (Changes{"s u +110"}));
  // A negative value brings the sum down again.
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 100, R"({"price":5})"}, {"u", "buy", 100, R"({"price":-5})"}}, 200),
            (Changes{"s u +100"}));
}

TEST(SegmentWindowTest, SeveralBoundsMustAllHold) {
  JobSpec job = OneSegment("{sum: {event: buy, field: price, gt: 10, lt: 20}}");
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 1, R"({"price":10})"}, {"u", "buy", 2, R"({"price":5})"},
                      {"u", "buy", 3, R"({"price":5})"}},
                100),
            (Changes{"s u +2", "s u -3"}));
}

// An expiry wakes the user only if it can flip the bounds: the sum falls while every value
// in the window is >= 0 and rises while every value is <= 0 (SumState::NextChange).
TEST(SegmentWindowTest, SumExpiryFlipsTheBoundsWhicheverWayTheValuesGo) {
  // Mixed signs: the negative value leaving the window lifts the sum over the bound.
  JobSpec gt = OneSegment("{sum: {event: buy, field: p, window: 10ms, gt: 0}}");
  EXPECT_EQ(Evaluate(gt, {{"u", "buy", 100, R"({"p":-10})"}, {"u", "buy", 105, R"({"p":5})"}}, 200),
            (Changes{"s u +110", "s u -115"}));
  // Only negative values: the sum rises as they expire, through an upper bound.
  JobSpec lt = OneSegment("{sum: {event: buy, field: p, window: 10ms, lt: -5}}");
  EXPECT_EQ(Evaluate(lt, {{"u", "buy", 100, R"({"p":-3})"}, {"u", "buy", 105, R"({"p":-4})"}}, 200),
            (Changes{"s u +105", "s u -110"}));
  // Only positive values under an upper bound: expiries bring the sum back under it.
  JobSpec lte = OneSegment("{sum: {event: buy, field: p, window: 10ms, lte: 5}}");
  EXPECT_EQ(Evaluate(lte, {{"u", "buy", 100, R"({"p":3})"}, {"u", "buy", 105, R"({"p":4})"}}, 200),
            (Changes{"s u +100", "s u -105", "s u +110"}));
  // Between: too high falls into the range on expiry; too low stays too low.
  JobSpec between = OneSegment("{sum: {event: buy, field: p, window: 10ms, gt: 2, lt: 6}}");
  EXPECT_EQ(Evaluate(between, {{"u", "buy", 100, R"({"p":4})"}, {"u", "buy", 105, R"({"p":3})"}}, 200),
            (Changes{"s u +100", "s u -105", "s u +110", "s u -115"}));
}

TEST(SegmentWindowTest, SumBelowALowerBoundWakesNobodyAtExpiry) {
  JobSpec job = OneSegment("{sum: {event: buy, field: p, window: 10ms, gt: 100}}");
  auto program = segtest::Compile(job);
  ASSERT_NE(program, nullptr);
  std::unique_ptr<UserState> state = program->NewUserState();
  ProjectedEvent e;
  program->Project(segtest::MakeEvent({"u", "buy", 100, R"({"p":7})"}), 0, &e);
  program->AddEvent(state.get(), std::move(e));
  std::vector<MembershipChange> changes;
  program->ProcessInstant(state.get(), 100, &changes);
  // 7 leaving the window cannot make the sum exceed 100: no instant at 110.
  EXPECT_EQ(program->NextInstant(*state), std::nullopt);
  // Over the bound, the expiry matters.
  program->Project(segtest::MakeEvent({"u", "buy", 105, R"({"p":200})"}), 1, &e);
  program->AddEvent(state.get(), std::move(e));
  program->ProcessInstant(state.get(), 105, &changes);
  EXPECT_EQ(program->NextInstant(*state), std::optional<int64_t>(110));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].entered);
}

TEST(SegmentWindowTest, SumIsExactAndOrderIndependent) {
  // 1e16 + 1 + 1 - 1e16 is 2 exactly; naive left-to-right double sums give 0 or 2
  // depending on the order of the three events at one instant.
  JobSpec job = OneSegment("{sum: {event: buy, field: p, eq: 2}}");
  std::vector<In> events = {{"u", "buy", 5, R"({"p":10000000000000000})"},
                            {"u", "buy", 5, R"({"p":1})"},
                            {"u", "buy", 5, R"({"p":1})"},
                            {"u", "buy", 6, R"({"p":-10000000000000000})"}};
  EXPECT_EQ(Evaluate(job, events, 100), (Changes{"s u +6"}));
  EXPECT_EQ(Evaluate(job, events, 100, {1, 2, 0, 3}), (Changes{"s u +6"}));
  // 0.1 + 0.2 is the double nearest to the exact sum, 0.30000000000000004.
  JobSpec fractions = OneSegment("{sum: {event: buy, field: p, gt: 0.3}}");
  EXPECT_EQ(Evaluate(fractions, {{"u", "buy", 1, R"({"p":0.1})"}, {"u", "buy", 1, R"({"p":0.2})"}}, 10),
            (Changes{"s u +1"}));
}

TEST(SegmentWindowTest, AvgOfNothingNeverHolds) {
  JobSpec job = OneSegment("{avg: {event: buy, field: price, window: 10ms, lte: 100}}");
  EXPECT_EQ(Evaluate(job, {{"u", "view", 100}}, 200), Changes{});
  EXPECT_EQ(Evaluate(job, {{"u", "buy", 100, R"({"price":50})"}, {"u", "buy", 105, R"({"price":250})"}}, 200),
            // avg 50 at 100; 150 at 105; 250 at 110 (50 expired); nothing at 115.
            (Changes{"s u +100", "s u -105"}));
  JobSpec gte = OneSegment("{avg: {event: buy, field: price, window: 10ms, gte: 100}}");
  EXPECT_EQ(Evaluate(gte, {{"u", "buy", 100, R"({"price":50})"}, {"u", "buy", 105, R"({"price":250})"}}, 200),
            (Changes{"s u +105", "s u -115"}));
}

TEST(SegmentWindowTest, MaxAndMinFollowExpiry) {
  JobSpec max = OneSegment("{max: {event: t, field: v, window: 10ms, gte: 50}}");
  EXPECT_EQ(Evaluate(max, {{"u", "t", 100, R"({"v":60})"}, {"u", "t", 105, R"({"v":10})"}}, 200),
            (Changes{"s u +100", "s u -110"}));
  JobSpec min = OneSegment("{min: {event: t, field: v, window: 10ms, lte: 5}}");
  // Minimum: 3 until 110, then 4 (from 108; 8 never is the minimum) until 118.
  EXPECT_EQ(Evaluate(min, {{"u", "t", 100, R"({"v":3})"}, {"u", "t", 105, R"({"v":8})"},
                      {"u", "t", 108, R"({"v":4})"}},
                200),
            (Changes{"s u +100", "s u -118"}));
  // min/max of nothing never holds, even against a bound every value would meet.
  JobSpec none = OneSegment("{min: {event: t, field: v, lt: 1000000}}");
  EXPECT_EQ(Evaluate(none, {{"u", "x", 1}}, 100), Changes{});
}

TEST(SegmentWindowTest, LifetimeMinAndMax) {
  JobSpec max = OneSegment("{max: {event: t, field: v, lt: 10}}");
  EXPECT_EQ(Evaluate(max, {{"u", "t", 1, R"({"v":5})"}, {"u", "t", 2, R"({"v":12})"}, {"u", "t", 3, R"({"v":1})"}},
                100),
            (Changes{"s u +1", "s u -2"}));
}

TEST(SegmentWindowTest, DistinctCountsNumbersByValueAndIgnoresNonScalars) {
  JobSpec job = OneSegment("{distinct: {event: p, field: g, at_least: 3}}");
  // 1 and 1.0 are one value, "1" another; missing / array / object are ignored.
  EXPECT_EQ(Evaluate(job, {{"u", "p", 1, R"({"g":1})"}, {"u", "p", 2, R"({"g":1.0})"}, {"u", "p", 3, R"({"g":"1"})"},
                      {"u", "p", 4, R"({})"}, {"u", "p", 5, R"({"g":[2]})"}, {"u", "p", 6, R"({"g":{"x":2}})"}},
                100),
            Changes{});
  EXPECT_EQ(Evaluate(job, {{"u", "p", 1, R"({"g":1})"}, {"u", "p", 2, R"({"g":"1"})"}, {"u", "p", 3, R"({"g":null})"}}, 100),
            (Changes{"s u +3"}));
  EXPECT_EQ(Evaluate(job, {{"u", "p", 1, R"({"g":true})"}, {"u", "p", 2, R"({"g":1.5})"}, {"u", "p", 3, R"({"g":1})"}}, 100),
            (Changes{"s u +3"}));
}

TEST(SegmentWindowTest, DistinctWindowKeepsAKeyAliveByItsLatestOccurrence) {
  JobSpec job = OneSegment("{distinct: {event: p, field: g, window: 10ms, at_least: 2}}");
  // a@100, b@103, a@108: two keys from 103; a@100 expiring at 110 changes nothing (a@108);
  // b expires at 113.
  EXPECT_EQ(Evaluate(job, {{"u", "p", 100, R"({"g":"a"})"}, {"u", "p", 103, R"({"g":"b"})"},
                      {"u", "p", 108, R"({"g":"a"})"}},
                200),
            (Changes{"s u +103", "s u -113"}));
  JobSpec at_most = OneSegment("{distinct: {event: p, field: g, window: 10ms, at_most: 1}}");
  EXPECT_EQ(Evaluate(at_most, {{"u", "p", 100, R"({"g":"a"})"}, {"u", "p", 103, R"({"g":"b"})"}}, 200),
            (Changes{"s u +100", "s u -103", "s u +110"}));
}

TEST(SegmentWindowTest, ZeroWindowNeverCounts) {
  JobSpec job = OneSegment("{count: {event: a, window: 0ms, at_least: 1}}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}}, 200), Changes{});
}

TEST(SegmentWindowTest, NotOfAWindowTurnsTrueAtExpiry) {
  JobSpec job = OneSegment("{all: [{count: {event: a, at_least: 1}}, {not: {count: {event: a, window: 10ms, at_least: 1}}}]}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "a", 115}}, 200),
            (Changes{"s u +110", "s u -115", "s u +125"}));
}

TEST(SegmentWindowTest, AnyAndAll) {
  JobSpec job = OneSegment(
      "{any: [{count: {event: a, window: 10ms, at_least: 1}}, {all: [{count: {event: b, at_least: 1}}, "
      "{count: {event: c, at_least: 1}}]}]}");
  EXPECT_EQ(Evaluate(job, {{"u", "a", 100}, {"u", "b", 105}, {"u", "c", 120}}, 200),
            (Changes{"s u +100", "s u -110", "s u +120"}));
}

}  // namespace
}  // namespace segflow
