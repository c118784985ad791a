// Conditions (spec §5), event matches and predicates (spec §4) parse into the right trees.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "job_test_util.h"
#include "jobs/job_parser.h"

namespace segflow {
namespace {

using testing_util::Describe;
using testing_util::Parse;
using testing_util::WithCondition;

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

// The condition of the only segment; fails the test when the job does not parse.
Condition ParseCondition(const std::string& cond, const std::string& extra = "") {
  JobParseResult r = Parse(WithCondition(cond) + extra);
  EXPECT_TRUE(r.ok()) << cond << "\n" << Describe(r);
  if (!r.ok() || r.job.segments.empty()) return Condition{};
  return r.job.segments[0].when;
}

// The `where` predicate of property "p" in a count condition.
Predicate WherePredicate(const std::string& pred) {
  Condition c = ParseCondition("{count: {event: e, where: {p: " + pred + "}, at_least: 1}}");
  EXPECT_EQ(c.match.where.size(), 1u);
  if (c.match.where.empty()) return Predicate{};
  EXPECT_EQ(c.match.where[0].first, "p");
  return c.match.where[0].second;
}

// The operand of a shorthand (eq) predicate.
Value Shorthand(const std::string& scalar) {
  Predicate p = WherePredicate(scalar);
  EXPECT_EQ(p.ops.size(), 1u) << scalar;
  if (p.ops.empty()) return Value::String("<none>");
  EXPECT_EQ(p.ops[0].first, PredOp::kEq) << scalar;
  return p.ops[0].second;
}

TEST(ConditionParseTest, Count) {
  Condition c = ParseCondition(
      "{count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}");
  EXPECT_EQ(c.kind, Condition::Kind::kCount);
  EXPECT_FALSE(c.match.any_event);
  EXPECT_EQ(c.match.events, (std::vector<std::string>{"play"}));
  ASSERT_EQ(c.match.where.size(), 1u);
  EXPECT_EQ(c.match.where[0].first, "genre");
  EXPECT_EQ(c.window_ms, 30 * kDay);
  EXPECT_EQ(c.at_least, 5);
  EXPECT_FALSE(c.at_most.has_value());

  c = ParseCondition("{count: {event: [a, b], at_most: 0}}");
  EXPECT_EQ(c.match.events, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(c.at_least.has_value());
  EXPECT_EQ(c.at_most, 0);
  EXPECT_FALSE(c.window_ms.has_value());  // lifetime

  c = ParseCondition("{count: {event: '*', between: [2, 4]}}");
  EXPECT_TRUE(c.match.any_event);
  EXPECT_TRUE(c.match.events.empty());
  EXPECT_EQ(c.at_least, 2);
  EXPECT_EQ(c.at_most, 4);

  c = ParseCondition("{count: {event: e, between: [3, 3]}}");
  EXPECT_EQ(c.at_least, 3);
  EXPECT_EQ(c.at_most, 3);
}

TEST(ConditionParseTest, Aggregates) {
  const std::pair<const char*, Condition::Kind> kinds[] = {{"sum", Condition::Kind::kSum},
                                                           {"avg", Condition::Kind::kAvg},
                                                           {"min", Condition::Kind::kMin},
                                                           {"max", Condition::Kind::kMax}};
  for (const auto& [name, kind] : kinds) {
    SCOPED_TRACE(name);
    Condition c = ParseCondition(std::string("{") + name +
                                 ": {event: pay, field: order.amount, window: 1h, gt: 10, "
                                 "lte: 99.5, eq: -3}}");
    EXPECT_EQ(c.kind, kind);
    EXPECT_EQ(c.match.events, (std::vector<std::string>{"pay"}));
    EXPECT_EQ(c.field, "order.amount");
    EXPECT_EQ(c.window_ms, kHour);
    ASSERT_EQ(c.bounds.size(), 3u);
    EXPECT_EQ(c.bounds[0], (std::pair<CmpOp, double>{CmpOp::kGt, 10}));
    EXPECT_EQ(c.bounds[1], (std::pair<CmpOp, double>{CmpOp::kLte, 99.5}));
    EXPECT_EQ(c.bounds[2], (std::pair<CmpOp, double>{CmpOp::kEq, -3}));
  }
  Condition c = ParseCondition("{sum: {event: pay, field: amount, gte: 0, lt: 1e3}}");
  EXPECT_FALSE(c.window_ms.has_value());
  ASSERT_EQ(c.bounds.size(), 2u);
  EXPECT_EQ(c.bounds[0], (std::pair<CmpOp, double>{CmpOp::kGte, 0}));
  EXPECT_EQ(c.bounds[1], (std::pair<CmpOp, double>{CmpOp::kLt, 1000}));
}

TEST(ConditionParseTest, Distinct) {
  Condition c = ParseCondition("{distinct: {event: play, field: genre, window: 30d, at_least: 4}}");
  EXPECT_EQ(c.kind, Condition::Kind::kDistinct);
  EXPECT_EQ(c.field, "genre");
  EXPECT_EQ(c.window_ms, 30 * kDay);
  EXPECT_EQ(c.at_least, 4);
  EXPECT_FALSE(c.at_most.has_value());
  c = ParseCondition("{distinct: {event: play, field: genre, at_most: 1}}");
  EXPECT_FALSE(c.at_least.has_value());
  EXPECT_EQ(c.at_most, 1);
}

TEST(ConditionParseTest, Absence) {
  Condition c = ParseCondition(
      "{absence: {after: {event: add_to_cart, where: {price: {gt: 0}}}, "
      "missing: {event: [purchase, refund]}, within: 30m}}");
  EXPECT_EQ(c.kind, Condition::Kind::kAbsence);
  EXPECT_EQ(c.after.events, (std::vector<std::string>{"add_to_cart"}));
  ASSERT_EQ(c.after.where.size(), 1u);
  EXPECT_EQ(c.after.where[0].first, "price");
  EXPECT_EQ(c.missing.events, (std::vector<std::string>{"purchase", "refund"}));
  EXPECT_EQ(c.within_ms, 30 * kMinute);
}

TEST(ConditionParseTest, Sequence) {
  Condition c = ParseCondition(
      "{sequence: {steps: [{event: view}, {event: add_to_cart, where: {qty: {gte: 2}}}, "
      "{event: '*'}], within: 1h, window: 1d}}");
  EXPECT_EQ(c.kind, Condition::Kind::kSequence);
  ASSERT_EQ(c.steps.size(), 3u);
  EXPECT_EQ(c.steps[0].events, (std::vector<std::string>{"view"}));
  EXPECT_EQ(c.steps[1].events, (std::vector<std::string>{"add_to_cart"}));
  ASSERT_EQ(c.steps[1].where.size(), 1u);
  EXPECT_EQ(c.steps[1].where[0].first, "qty");
  EXPECT_TRUE(c.steps[2].any_event);
  EXPECT_EQ(c.within_ms, kHour);
  EXPECT_EQ(c.window_ms, kDay);
  c = ParseCondition("{sequence: {steps: [{event: a}, {event: b}], within: 0s}}");
  EXPECT_EQ(c.within_ms, 0);
  EXPECT_FALSE(c.window_ms.has_value());
}

TEST(ConditionParseTest, Profile) {
  Condition c = ParseCondition("{profile: {tier: {in: [gold, platinum]}, address.country: NL}}",
                               "profile: {event: identify}\n");
  EXPECT_EQ(c.kind, Condition::Kind::kProfile);
  ASSERT_EQ(c.profile.size(), 2u);
  EXPECT_EQ(c.profile[0].first, "tier");
  ASSERT_EQ(c.profile[0].second.ops.size(), 1u);
  EXPECT_EQ(c.profile[0].second.ops[0].first, PredOp::kIn);
  EXPECT_EQ(c.profile[0].second.ops[0].second,
            Value::Array({Value::String("gold"), Value::String("platinum")}));
  EXPECT_EQ(c.profile[1].first, "address.country");
  EXPECT_EQ(c.profile[1].second.ops[0].second, Value::String("NL"));
}

TEST(ConditionParseTest, SegmentReferenceAndJunctions) {
  JobParseResult r = Parse(
      "job: t\nlog: log\nsource: {topics: [e]}\n"
      "segments:\n"
      "  - id: base\n"
      "    when: {count: {event: e, at_least: 1}}\n"
      "  - id: combo\n"
      "    when:\n"
      "      all:\n"
      "        - segment: base\n"
      "        - any:\n"
      "            - count: {event: a, at_least: 1}\n"
      "            - count: {event: b, at_least: 1}\n"
      "        - not: {segment: base}\n");
  ASSERT_TRUE(r.ok()) << Describe(r);
  const Condition& all = r.job.segments[1].when;
  EXPECT_EQ(all.kind, Condition::Kind::kAll);
  EXPECT_EQ(all.loc.line, 9);
  EXPECT_EQ(all.loc.column, 7);
  ASSERT_EQ(all.children.size(), 3u);
  EXPECT_EQ(all.children[0].kind, Condition::Kind::kSegment);
  EXPECT_EQ(all.children[0].segment_ref, "base");
  EXPECT_EQ(all.children[0].loc.line, 10);
  EXPECT_EQ(all.children[0].loc.column, 11);
  const Condition& any = all.children[1];
  EXPECT_EQ(any.kind, Condition::Kind::kAny);
  ASSERT_EQ(any.children.size(), 2u);
  EXPECT_EQ(any.children[0].match.events, (std::vector<std::string>{"a"}));
  EXPECT_EQ(any.children[1].match.events, (std::vector<std::string>{"b"}));
  EXPECT_EQ(any.children[1].loc.line, 13);
  const Condition& negation = all.children[2];
  EXPECT_EQ(negation.kind, Condition::Kind::kNot);
  ASSERT_EQ(negation.children.size(), 1u);
  EXPECT_EQ(negation.children[0].kind, Condition::Kind::kSegment);
  EXPECT_EQ(negation.children[0].segment_ref, "base");
}

TEST(ConditionParseTest, ShorthandScalarsAreTypedByYamlCoreSchema) {
  EXPECT_EQ(Shorthand("5").kind(), Value::Kind::kInt);
  EXPECT_EQ(Shorthand("5").as_int(), 5);
  EXPECT_EQ(Shorthand("-7").as_int(), -7);
  EXPECT_EQ(Shorthand("+3").as_int(), 3);
  EXPECT_EQ(Shorthand("0x1F").as_int(), 31);
  EXPECT_EQ(Shorthand("0o17").as_int(), 15);
  EXPECT_EQ(Shorthand("9223372036854775807").as_int(), INT64_MAX);
  EXPECT_EQ(Shorthand("-9223372036854775808").as_int(), INT64_MIN);
  EXPECT_EQ(Shorthand("5.0").kind(), Value::Kind::kDouble);
  EXPECT_EQ(Shorthand("5.0").as_double(), 5.0);
  EXPECT_EQ(Shorthand(".5").as_double(), 0.5);
  EXPECT_EQ(Shorthand("1e3").kind(), Value::Kind::kDouble);
  EXPECT_EQ(Shorthand("1e3").as_double(), 1000.0);
  EXPECT_EQ(Shorthand("-2.5E-1").as_double(), -0.25);
  EXPECT_EQ(Shorthand("true"), Value::Bool(true));
  EXPECT_EQ(Shorthand("False"), Value::Bool(false));
  EXPECT_TRUE(Shorthand("null").is_null());
  EXPECT_TRUE(Shorthand("~").is_null());
  EXPECT_TRUE(Shorthand("").is_null());
  // Quoted or !!str: always strings.
  EXPECT_EQ(Shorthand("\"5\""), Value::String("5"));
  EXPECT_EQ(Shorthand("'true'"), Value::String("true"));
  EXPECT_EQ(Shorthand("\"null\""), Value::String("null"));
  EXPECT_EQ(Shorthand("!!str 5"), Value::String("5"));
  EXPECT_EQ(Shorthand("!!float 5"), Value::Double(5));
  EXPECT_EQ(Shorthand("!!float 5").kind(), Value::Kind::kDouble);
  // YAML 1.2: yes/no/on/off are plain strings; so are near-numbers.
  EXPECT_EQ(Shorthand("yes"), Value::String("yes"));
  EXPECT_EQ(Shorthand("off"), Value::String("off"));
  EXPECT_EQ(Shorthand("1.2.3"), Value::String("1.2.3"));
  EXPECT_EQ(Shorthand("12abc"), Value::String("12abc"));
  EXPECT_EQ(Shorthand("documentary"), Value::String("documentary"));
}

TEST(ConditionParseTest, OperatorMapsKeepEveryOperatorInOrder) {
  Predicate p = WherePredicate(
      "{gt: 1, lte: 10.5, ne: x, in: [a, 1, true, ~], not_in: [b], exists: false, "
      "prefix: ab, contains: \"7\", eq: null, gte: abc, lt: '9'}");
  ASSERT_EQ(p.ops.size(), 11u);
  EXPECT_EQ(p.ops[0], (std::pair<PredOp, Value>{PredOp::kGt, Value::Int(1)}));
  EXPECT_EQ(p.ops[1], (std::pair<PredOp, Value>{PredOp::kLte, Value::Double(10.5)}));
  EXPECT_EQ(p.ops[2], (std::pair<PredOp, Value>{PredOp::kNe, Value::String("x")}));
  EXPECT_EQ(p.ops[3].first, PredOp::kIn);
  EXPECT_EQ(p.ops[3].second,
            Value::Array({Value::String("a"), Value::Int(1), Value::Bool(true), Value::Null()}));
  EXPECT_EQ(p.ops[4],
            (std::pair<PredOp, Value>{PredOp::kNotIn, Value::Array({Value::String("b")})}));
  EXPECT_EQ(p.ops[5], (std::pair<PredOp, Value>{PredOp::kExists, Value::Bool(false)}));
  EXPECT_EQ(p.ops[6], (std::pair<PredOp, Value>{PredOp::kPrefix, Value::String("ab")}));
  EXPECT_EQ(p.ops[7], (std::pair<PredOp, Value>{PredOp::kContains, Value::String("7")}));
  EXPECT_EQ(p.ops[8], (std::pair<PredOp, Value>{PredOp::kEq, Value::Null()}));
  EXPECT_EQ(p.ops[9], (std::pair<PredOp, Value>{PredOp::kGte, Value::String("abc")}));
  EXPECT_EQ(p.ops[10], (std::pair<PredOp, Value>{PredOp::kLt, Value::String("9")}));
  // An empty `in` list is allowed (it never holds; `not_in: []` always holds).
  p = WherePredicate("{in: []}");
  ASSERT_EQ(p.ops.size(), 1u);
  EXPECT_EQ(p.ops[0].second, Value::Array({}));
}

TEST(ConditionParseTest, WhereWithDottedPathsAndShorthand) {
  Condition c = ParseCondition(
      "{count: {event: play, where: {device.os: ios, premium: true, plays: {gte: 3}}, "
      "at_least: 1}}");
  ASSERT_EQ(c.match.where.size(), 3u);
  EXPECT_EQ(c.match.where[0].first, "device.os");
  EXPECT_EQ(c.match.where[0].second.ops[0],
            (std::pair<PredOp, Value>{PredOp::kEq, Value::String("ios")}));
  EXPECT_EQ(c.match.where[1].second.ops[0],
            (std::pair<PredOp, Value>{PredOp::kEq, Value::Bool(true)}));
  EXPECT_EQ(c.match.where[2].second.ops[0],
            (std::pair<PredOp, Value>{PredOp::kGte, Value::Int(3)}));
  // An empty where holds vacuously.
  c = ParseCondition("{count: {event: play, where: {}, at_least: 1}}");
  EXPECT_TRUE(c.match.where.empty());
}

TEST(ConditionParseTest, EventNamesTakeScalarText) {
  // A plain `404` names the event type "404" (event types are strings, spec §1).
  Condition c = ParseCondition("{count: {event: [404, 'a b', true], at_least: 1}}");
  EXPECT_EQ(c.match.events, (std::vector<std::string>{"404", "a b", "true"}));
}

TEST(ConditionParseTest, BlockStyleAndAnchorsWork) {
  JobParseResult r = Parse(
      "job: t\nlog: log\nsource: {topics: [e]}\n"
      "segments:\n"
      "  - id: a\n"
      "    when:\n"
      "      count:\n"
      "        event: &ev play\n"
      "        window: 2h\n"
      "        at_least: 2\n"
      "  - id: b\n"
      "    when: {count: {event: *ev, at_least: 1}}\n");
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.job.segments[0].when.window_ms, 2 * kHour);
  EXPECT_EQ(r.job.segments[0].when.loc.line, 7);
  EXPECT_EQ(r.job.segments[1].when.match.events, (std::vector<std::string>{"play"}));
}

}  // namespace
}  // namespace segflow
