// Predicates and event matching: spec §4 and §9 "Values" and "Matching".
#include "operators/predicate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace segflow {
namespace {

Predicate P(PredOp op, Value operand) {
  Predicate p;
  p.ops.emplace_back(op, std::move(operand));
  return p;
}

Value I(int64_t i) {
  return Value::Int(i);
}
Value D(double d) {
  return Value::Double(d);
}
Value S(std::string s) {
  return Value::String(std::move(s));
}
Value B(bool b) {
  return Value::Bool(b);
}
Value N() {
  return Value::Null();
}
Value L(ValueArray items) {
  return Value::Array(std::move(items));
}

bool Eval(PredOp op, Value operand, const Value& v) {
  return EvaluatePredicate(P(op, operand), &v);
}
bool EvalMissing(PredOp op, Value operand) {
  return EvaluatePredicate(P(op, operand), nullptr);
}

constexpr PredOp kOrderOps[] = {PredOp::kLt, PredOp::kLte, PredOp::kGt, PredOp::kGte};

TEST(PredicateTest, IntegersCompareExactly) {
  EXPECT_TRUE(Eval(PredOp::kEq, I(5), I(5)));
  EXPECT_FALSE(Eval(PredOp::kEq, I(5), I(6)));
  EXPECT_TRUE(Eval(PredOp::kLt, I(6), I(5)));
  EXPECT_FALSE(Eval(PredOp::kLt, I(5), I(5)));
  EXPECT_TRUE(Eval(PredOp::kLte, I(5), I(5)));
  EXPECT_TRUE(Eval(PredOp::kGt, I(4), I(5)));
  EXPECT_TRUE(Eval(PredOp::kGte, I(5), I(5)));
  EXPECT_FALSE(Eval(PredOp::kGte, I(6), I(5)));
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(Eval(PredOp::kGt, I(max - 1), I(max)));
  EXPECT_FALSE(Eval(PredOp::kEq, I(max - 1), I(max)));
}

TEST(PredicateTest, IntegerEqualsIntegralDouble) {
  EXPECT_TRUE(Eval(PredOp::kEq, D(1.0), I(1)));
  EXPECT_TRUE(Eval(PredOp::kEq, I(1), D(1.0)));
  EXPECT_FALSE(Eval(PredOp::kNe, I(1), D(1.0)));
  EXPECT_TRUE(Eval(PredOp::kIn, L({D(1.0)}), I(1)));
  EXPECT_FALSE(Eval(PredOp::kEq, D(1.5), I(1)));
}

TEST(PredicateTest, IntegerVersusDoubleOrdersExactly) {
  EXPECT_TRUE(Eval(PredOp::kLt, D(1.5), I(1)));
  EXPECT_TRUE(Eval(PredOp::kGt, D(0.5), I(1)));
  EXPECT_TRUE(Eval(PredOp::kGt, D(-1.5), I(-1)));
  EXPECT_TRUE(Eval(PredOp::kLt, D(-0.5), I(-1)));
  EXPECT_TRUE(Eval(PredOp::kGte, I(2), D(2.0)));
  EXPECT_TRUE(Eval(PredOp::kLte, D(2.0), I(2)));
  EXPECT_FALSE(Eval(PredOp::kLt, D(2.0), I(2)));
}

TEST(PredicateTest, BigIntegersAgainstDoublesLoseNoPrecision) {
  const int64_t two53 = int64_t{1} << 53;
  // 2^53 + 1 rounds to 2^53 as a double; an exact comparison must still tell them apart.
  EXPECT_FALSE(Eval(PredOp::kEq, D(9007199254740992.0), I(two53 + 1)));
  EXPECT_TRUE(Eval(PredOp::kGt, D(9007199254740992.0), I(two53 + 1)));
  EXPECT_TRUE(Eval(PredOp::kLt, I(two53 + 1), D(9007199254740992.0)));
  EXPECT_TRUE(Eval(PredOp::kEq, D(9007199254740992.0), I(two53)));
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(Eval(PredOp::kLt, D(9223372036854775808.0), I(max)));
  EXPECT_FALSE(Eval(PredOp::kEq, D(9223372036854775808.0), I(max)));
  const int64_t min = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(Eval(PredOp::kEq, D(-9223372036854775808.0), I(min)));
  EXPECT_TRUE(Eval(PredOp::kGt, D(-1e30), I(min)));
  EXPECT_TRUE(Eval(PredOp::kLt, D(1e30), I(max)));
}

TEST(PredicateTest, DoublesCompareAsNumbers) {
  EXPECT_TRUE(Eval(PredOp::kLt, D(0.3), D(0.1)));
  EXPECT_TRUE(Eval(PredOp::kEq, D(-0.0), D(0.0)));
  EXPECT_TRUE(Eval(PredOp::kEq, I(0), D(-0.0)));
}

TEST(PredicateTest, NanSatisfiesNoComparison) {
  const Value nan = D(std::nan(""));
  for (PredOp op : kOrderOps) EXPECT_FALSE(Eval(op, I(1), nan));
  EXPECT_FALSE(Eval(PredOp::kEq, nan, nan));
  EXPECT_TRUE(Eval(PredOp::kNe, I(1), nan));
}

TEST(PredicateTest, StringsCompareByCodePoint) {
  EXPECT_TRUE(Eval(PredOp::kEq, S("abc"), S("abc")));
  EXPECT_TRUE(Eval(PredOp::kLt, S("b"), S("a")));
  EXPECT_TRUE(Eval(PredOp::kLt, S("a"), S("B"))) << "code point order, not case-insensitive";
  EXPECT_TRUE(Eval(PredOp::kLt, S("ab"), S("a")));
  // U+00E9 (é) < U+FF21 (Ａ) < U+1F600 (😀): unsigned byte order of UTF-8 is code point order.
  EXPECT_TRUE(Eval(PredOp::kGt, S("\xc3\xa9"), S("\xef\xbc\xa1")));
  EXPECT_TRUE(Eval(PredOp::kGt, S("\xef\xbc\xa1"), S("\xf0\x9f\x98\x80")));
  EXPECT_TRUE(Eval(PredOp::kGt, S("z"), S("\xc3\xa9")));
  EXPECT_TRUE(Eval(PredOp::kGte, S("abc"), S("abc")));
}

TEST(PredicateTest, NumberNeverEqualsString) {
  EXPECT_FALSE(Eval(PredOp::kEq, I(1), S("1")));
  EXPECT_FALSE(Eval(PredOp::kEq, S("1"), I(1)));
  EXPECT_TRUE(Eval(PredOp::kNe, I(1), S("1")));
  EXPECT_FALSE(Eval(PredOp::kIn, L({I(1)}), S("1")));
  EXPECT_TRUE(Eval(PredOp::kNotIn, L({I(1)}), S("1")));
}

TEST(PredicateTest, BooleansEqualOnlyBooleans) {
  EXPECT_TRUE(Eval(PredOp::kEq, B(true), B(true)));
  EXPECT_FALSE(Eval(PredOp::kEq, B(true), B(false)));
  EXPECT_FALSE(Eval(PredOp::kEq, B(true), I(1)));
  EXPECT_FALSE(Eval(PredOp::kEq, I(1), B(true)));
  EXPECT_FALSE(Eval(PredOp::kEq, B(false), I(0)));
  EXPECT_FALSE(Eval(PredOp::kEq, B(true), S("true")));
  EXPECT_TRUE(Eval(PredOp::kNe, B(true), I(1)));
}

TEST(PredicateTest, NullEqualsOnlyNull) {
  EXPECT_TRUE(Eval(PredOp::kEq, N(), N()));
  EXPECT_FALSE(Eval(PredOp::kEq, N(), I(0)));
  EXPECT_FALSE(Eval(PredOp::kEq, N(), S("")));
  EXPECT_FALSE(Eval(PredOp::kEq, N(), B(false)));
  EXPECT_FALSE(Eval(PredOp::kNe, N(), N()));
  EXPECT_TRUE(Eval(PredOp::kNe, N(), I(0)));
  EXPECT_TRUE(Eval(PredOp::kIn, L({I(1), N()}), N()));
}

TEST(PredicateTest, OrderingAcrossTypesFails) {
  for (PredOp op : kOrderOps) {
    EXPECT_FALSE(Eval(op, S("5"), I(5)));
    EXPECT_FALSE(Eval(op, I(5), S("5")));
    EXPECT_FALSE(Eval(op, S("a"), I(1)));
    EXPECT_FALSE(Eval(op, I(0), S("a")));
  }
}

TEST(PredicateTest, OrderingOnBooleansFails) {
  for (PredOp op : kOrderOps) {
    EXPECT_FALSE(Eval(op, B(true), B(true)));
    EXPECT_FALSE(Eval(op, B(false), B(true)));
    EXPECT_FALSE(Eval(op, I(0), B(true)));
  }
}

TEST(PredicateTest, OrderingOnNullFails) {
  for (PredOp op : kOrderOps) {
    EXPECT_FALSE(Eval(op, N(), N()));
    EXPECT_FALSE(Eval(op, I(0), N()));
  }
}

TEST(PredicateTest, ArraysAndObjectsFailEverythingButExistsNeNotIn) {
  const Value arr = L({I(1), I(2)});
  const Value obj = Value::Object({{"a", I(1)}});
  for (const Value* v : {&arr, &obj}) {
    EXPECT_FALSE(Eval(PredOp::kEq, I(1), *v));
    EXPECT_FALSE(Eval(PredOp::kEq, *v, *v)) << "not even equal to itself";
    for (PredOp op : kOrderOps) EXPECT_FALSE(Eval(op, I(1), *v));
    EXPECT_FALSE(Eval(PredOp::kIn, L({I(1), I(2)}), *v));
    EXPECT_FALSE(Eval(PredOp::kPrefix, S(""), *v));
    EXPECT_FALSE(Eval(PredOp::kContains, S(""), *v));
    EXPECT_TRUE(Eval(PredOp::kExists, B(true), *v));
    EXPECT_FALSE(Eval(PredOp::kExists, B(false), *v));
    EXPECT_TRUE(Eval(PredOp::kNe, I(1), *v));
    EXPECT_TRUE(Eval(PredOp::kNotIn, L({I(1), I(2)}), *v));
  }
}

TEST(PredicateTest, MissingPropertyFailsAllButExistsFalseNeNotIn) {
  EXPECT_FALSE(EvalMissing(PredOp::kEq, I(1)));
  EXPECT_FALSE(EvalMissing(PredOp::kEq, N()));
  for (PredOp op : kOrderOps) EXPECT_FALSE(EvalMissing(op, I(1)));
  EXPECT_FALSE(EvalMissing(PredOp::kIn, L({I(1), N()})));
  EXPECT_FALSE(EvalMissing(PredOp::kPrefix, S("")));
  EXPECT_FALSE(EvalMissing(PredOp::kContains, S("")));
  EXPECT_FALSE(EvalMissing(PredOp::kExists, B(true)));
  EXPECT_TRUE(EvalMissing(PredOp::kExists, B(false)));
  EXPECT_TRUE(EvalMissing(PredOp::kNe, I(1)));
  EXPECT_TRUE(EvalMissing(PredOp::kNe, N()));
  EXPECT_TRUE(EvalMissing(PredOp::kNotIn, L({I(1), N()})));
}

TEST(PredicateTest, PresentNullExists) {
  EXPECT_TRUE(Eval(PredOp::kExists, B(true), N()));
  EXPECT_FALSE(Eval(PredOp::kExists, B(false), N()));
}

TEST(PredicateTest, ExistsHoldsForEveryPresentKind) {
  for (const Value& v : {I(0), D(0), S(""), B(false), N(), L({}), Value::Object({})}) {
    EXPECT_TRUE(Eval(PredOp::kExists, B(true), v)) << v.ToJson();
    EXPECT_FALSE(Eval(PredOp::kExists, B(false), v)) << v.ToJson();
  }
}

TEST(PredicateTest, InAndNotInOverAListOfScalars) {
  const Value list = L({S("medium"), S("high"), I(3)});
  EXPECT_TRUE(Eval(PredOp::kIn, list, S("high")));
  EXPECT_FALSE(Eval(PredOp::kIn, list, S("low")));
  EXPECT_TRUE(Eval(PredOp::kIn, list, D(3.0)));
  EXPECT_FALSE(Eval(PredOp::kIn, list, S("3")));
  EXPECT_FALSE(Eval(PredOp::kNotIn, list, S("high")));
  EXPECT_TRUE(Eval(PredOp::kNotIn, list, S("low")));
  EXPECT_FALSE(Eval(PredOp::kIn, L({}), S("x")));
  EXPECT_TRUE(Eval(PredOp::kNotIn, L({}), S("x")));
}

TEST(PredicateTest, PrefixOnStringsOnly) {
  EXPECT_TRUE(Eval(PredOp::kPrefix, S("ab"), S("abc")));
  EXPECT_TRUE(Eval(PredOp::kPrefix, S(""), S("abc")));
  EXPECT_TRUE(Eval(PredOp::kPrefix, S("abc"), S("abc")));
  EXPECT_FALSE(Eval(PredOp::kPrefix, S("bc"), S("abc")));
  EXPECT_FALSE(Eval(PredOp::kPrefix, S("abcd"), S("abc")));
  EXPECT_FALSE(Eval(PredOp::kPrefix, S("AB"), S("abc")));
  EXPECT_FALSE(Eval(PredOp::kPrefix, S("12"), I(123)));
  EXPECT_FALSE(Eval(PredOp::kPrefix, S("t"), B(true)));
  EXPECT_FALSE(Eval(PredOp::kPrefix, S("n"), N()));
}

TEST(PredicateTest, ContainsOnStringsOnly) {
  EXPECT_TRUE(Eval(PredOp::kContains, S("b"), S("abc")));
  EXPECT_TRUE(Eval(PredOp::kContains, S("abc"), S("abc")));
  EXPECT_TRUE(Eval(PredOp::kContains, S(""), S("")));
  EXPECT_FALSE(Eval(PredOp::kContains, S("B"), S("abc")));
  EXPECT_FALSE(Eval(PredOp::kContains, S("2"), I(123)));
  EXPECT_FALSE(Eval(PredOp::kContains, S("1"), D(1.5)));
}

TEST(PredicateTest, AllOperatorsOfAPredicateMustHold) {
  Predicate range;
  range.ops = {{PredOp::kGt, I(10)}, {PredOp::kLt, I(100)}};
  Value v = I(50);
  EXPECT_TRUE(EvaluatePredicate(range, &v));
  v = I(10);
  EXPECT_FALSE(EvaluatePredicate(range, &v));
  v = I(100);
  EXPECT_FALSE(EvaluatePredicate(range, &v));
  EXPECT_FALSE(EvaluatePredicate(range, nullptr));

  Predicate maybe_missing;
  maybe_missing.ops = {{PredOp::kExists, B(false)}, {PredOp::kNe, S("x")}};
  EXPECT_TRUE(EvaluatePredicate(maybe_missing, nullptr));
  v = S("y");
  EXPECT_FALSE(EvaluatePredicate(maybe_missing, &v));
}

Event MakeEvent(std::string type, ValueObject props) {
  Event e;
  e.user = "u1";
  e.type = std::move(type);
  e.ts = 1000;
  e.props = Value::Object(std::move(props));
  return e;
}

TEST(MatchesEventTest, MatchesByEventName) {
  EventMatch m;
  m.events = {"play"};
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("play", {})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("search", {})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("Play", {})));
}

TEST(MatchesEventTest, MatchesAnyOfSeveralNames) {
  EventMatch m;
  m.events = {"play", "search"};
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("play", {})));
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("search", {})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("identify", {})));
}

TEST(MatchesEventTest, StarMatchesEveryEvent) {
  EventMatch m;
  m.any_event = true;
  for (const char* type : {"play", "identify", "consent", "*", "x"}) {
    EXPECT_TRUE(MatchesEvent(m, MakeEvent(type, {}))) << type;
  }
}

TEST(MatchesEventTest, StarStillAppliesWhere) {
  EventMatch m;
  m.any_event = true;
  m.where.emplace_back("country", P(PredOp::kEq, S("DE")));
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("identify", {{"country", S("DE")}})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("identify", {{"country", S("FR")}})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("identify", {})));
}

TEST(MatchesEventTest, EveryWhereEntryMustHold) {
  EventMatch m;
  m.events = {"transaction"};
  m.where.emplace_back("status", P(PredOp::kEq, S("approved")));
  m.where.emplace_back("amount", P(PredOp::kGte, I(100)));
  EXPECT_TRUE(
      MatchesEvent(m, MakeEvent("transaction", {{"status", S("approved")}, {"amount", D(100)}})));
  EXPECT_FALSE(
      MatchesEvent(m, MakeEvent("transaction", {{"status", S("declined")}, {"amount", I(500)}})));
  EXPECT_FALSE(
      MatchesEvent(m, MakeEvent("transaction", {{"status", S("approved")}, {"amount", I(99)}})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("transaction", {{"status", S("approved")}})));
  EXPECT_FALSE(
      MatchesEvent(m, MakeEvent("login", {{"status", S("approved")}, {"amount", I(500)}})));
}

TEST(MatchesEventTest, WherePathsAreDotted) {
  EventMatch m;
  m.events = {"play"};
  m.where.emplace_back("device.os", P(PredOp::kEq, S("ios")));
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("play", {{"device", Value::Object({{"os", S("ios")}})}})));
  EXPECT_FALSE(
      MatchesEvent(m, MakeEvent("play", {{"device", Value::Object({{"os", S("android")}})}})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("play", {{"device", S("ios")}})));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("play", {{"device.os", S("ios")}})))
      << "a dotted path addresses nesting, not a literal key with a dot";
}

TEST(MatchesEventTest, MissingNestedPropertySatisfiesOnlyNegativePredicates) {
  EventMatch m;
  m.events = {"play"};
  m.where.emplace_back("device.os", P(PredOp::kNe, S("ios")));
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("play", {})));
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("play", {{"device", Value::Object({})}})));
  m.where[0].second = P(PredOp::kExists, B(false));
  EXPECT_TRUE(MatchesEvent(m, MakeEvent("play", {})));
  m.where[0].second = P(PredOp::kEq, S("ios"));
  EXPECT_FALSE(MatchesEvent(m, MakeEvent("play", {})));
}

}  // namespace
}  // namespace segflow
