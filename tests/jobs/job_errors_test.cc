// Validation errors (spec §7): one test per kind of error, each pinning line, column and
// the key phrases of the message.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "job_test_util.h"
#include "jobs/job_parser.h"

namespace segflow {
namespace {

using testing_util::CondCol;
using testing_util::Describe;
using testing_util::ErrorIs;
using testing_util::HasError;
using testing_util::kCondLine;
using testing_util::OnlyError;
using testing_util::Parse;
using testing_util::WithCondition;

// 1-based column of `needle` in `line`.
int Col(std::string_view line, std::string_view needle) {
  size_t at = line.find(needle);
  EXPECT_NE(at, std::string_view::npos) << needle;
  return static_cast<int>(at) + 1;
}

// Checks that `cond` (as a segment's `when`) gives exactly one error at `needle`.
void ExpectCondError(std::string_view cond, std::string_view needle,
                     std::initializer_list<std::string_view> phrases) {
  SCOPED_TRACE(std::string(cond));
  EXPECT_TRUE(OnlyError(Parse(WithCondition(cond)), kCondLine, CondCol(cond, needle), phrases));
}

constexpr char kHead[] =
    "job: t\n"
    "log: log\n"
    "source: {topics: [events]}\n";
constexpr char kSegment[] =
    "segments:\n"
    "  - id: s\n"
    "    when: {count: {event: play, at_least: 1}}\n";

TEST(JobErrorsTest, ValidBaseHasNoErrors) {
  EXPECT_TRUE(Parse(std::string(kHead) + kSegment).ok());
  EXPECT_TRUE(Parse(WithCondition("{count: {event: play, at_least: 1}}")).ok());
}

TEST(JobErrorsTest, YamlSyntaxErrorHasPosition) {
  auto r = Parse("job: t\nlog: x\n  bad: 1\n");
  EXPECT_TRUE(OnlyError(r, 3, 6, {"YAML syntax error", "illegal map value"}));
  EXPECT_EQ(r.errors[0].file, testing_util::kTestFile);
}

TEST(JobErrorsTest, TopLevelMustBeAMap) {
  EXPECT_TRUE(
      OnlyError(Parse("- a\n- b\n"), 1, 1, {"expected the job file to be a map", "got a list"}));
  EXPECT_TRUE(OnlyError(Parse(""), 1, 1, {"expected the job file to be a map", "empty file"}));
  EXPECT_TRUE(OnlyError(Parse("hello\n"), 1, 1, {"got \"hello\""}));
}

TEST(JobErrorsTest, OnlyOneDocument) {
  auto r = Parse(std::string(kHead) + kSegment + "---\njob: u\n");
  EXPECT_TRUE(OnlyError(r, 8, 1, {"expected one YAML document, found 2"}));
}

TEST(JobErrorsTest, UnknownTopLevelKeySuggestsClosest) {
  auto r = Parse(std::string(kHead) + "segmnts:\n  - id: s\n");
  ASSERT_EQ(r.errors.size(), 2u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], 1, 1, {"missing required key \"segments\" at the top level"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 4, 1,
                      {"unknown key \"segmnts\" at the top level (did you mean \"segments\"?)"}));
}

TEST(JobErrorsTest, UnknownKeyInConditionSuggestsClosest) {
  std::string cond = "{count: {event: play, windw: 1h, at_least: 1}}";
  auto r = Parse(WithCondition(cond));
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_EQ(r.errors[0].ToString(),
            "/srv/jobs/test.yaml:6:" + std::to_string(CondCol(cond, "windw")) +
                ": unknown key \"windw\" in count (did you mean \"window\"?)");
}

TEST(JobErrorsTest, UnknownKeyWithoutCloseMatchListsKnownKeys) {
  ExpectCondError("{count: {event: play, colour: red, at_least: 1}}", "colour",
                  {"unknown key \"colour\" in count (expected event, where, window, at_least, "
                   "at_most or between)"});
}

TEST(JobErrorsTest, UnknownKeysAtEveryLevel) {
  // source, source.fields, segment, membership, output, checkpoint, profile, consent.
  std::string text =
      "job: t\n"                                                  // 1
      "log: log\n"                                                // 2
      "source: {topics: [events], topic: x, fields: {usr: u}}\n"  // 3
      "profile: {event: identify, evnt: x}\n"                     // 4
      "consent: {event: c, field: g, defalt: granted}\n"          // 5
      "segments:\n"                                               // 6
      "  - id: s\n"                                               // 7
      "    when: {count: {event: play, at_least: 1}}\n"           // 8
      "    membership: {duration: 1h, colldown: 1h}\n"            // 9
      "    extra: 1\n"                                            // 10
      "output: {changelog: c.m, audiense: a}\n"                   // 11
      "checkpoint: {intervall: 1s}\n";                            // 12
  auto r = Parse(text);
  ASSERT_EQ(r.errors.size(), 8u) << Describe(r);
  EXPECT_TRUE(
      ErrorIs(r.errors[0], 3, 28, {"unknown key \"topic\" in source", "did you mean \"topics\""}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 3, 47,
                      {"unknown role \"usr\" in source.fields", "did you mean \"user\""}));
  EXPECT_TRUE(ErrorIs(r.errors[2], 4, 28, {"unknown key \"evnt\" in profile"}));
  EXPECT_TRUE(ErrorIs(r.errors[3], 5, 31,
                      {"unknown key \"defalt\" in consent", "did you mean \"default\""}));
  EXPECT_TRUE(ErrorIs(r.errors[4], 9, 32,
                      {"unknown key \"colldown\" in membership", "did you mean \"cooldown\""}));
  EXPECT_TRUE(ErrorIs(r.errors[5], 10, 5, {"unknown key \"extra\" in segment"}));
  EXPECT_TRUE(ErrorIs(r.errors[6], 11, 26,
                      {"unknown key \"audiense\" in output", "did you mean \"audience\""}));
  EXPECT_TRUE(ErrorIs(r.errors[7], 12, 14,
                      {"unknown key \"intervall\" in checkpoint", "did you mean \"interval\""}));
}

TEST(JobErrorsTest, DuplicateKey) {
  auto r = Parse(std::string(kHead) + kSegment + "job: u\n");
  EXPECT_TRUE(
      OnlyError(r, 7, 1, {"duplicate key \"job\" at the top level", "first given at line 1"}));
}

TEST(JobErrorsTest, MissingRequiredTopLevelKeys) {
  auto r = Parse("log: x\n");
  ASSERT_EQ(r.errors.size(), 3u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], 1, 1, {"missing required key \"job\" at the top level"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 1, 1, {"missing required key \"source\""}));
  EXPECT_TRUE(ErrorIs(r.errors[2], 1, 1, {"missing required key \"segments\""}));
  EXPECT_TRUE(HasError(Parse("job: t\nsource: {topics: [e]}\n" + std::string(kSegment)), 1, 1,
                       {"missing required key \"log\""}));
}

TEST(JobErrorsTest, MissingTopicsReportedAtSource) {
  auto r = Parse("job: t\nlog: log\nsource:\n  fields: {user: uid}\n" + std::string(kSegment));
  EXPECT_TRUE(OnlyError(r, 3, 1, {"missing required key \"topics\" in source"}));
}

TEST(JobErrorsTest, MissingSegmentIdAndWhen) {
  auto r = Parse(std::string(kHead) + "segments:\n  - membership: {duration: 1h}\n");
  ASSERT_EQ(r.errors.size(), 2u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], 5, 5, {"missing required key \"id\" in segment"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 5, 5, {"missing required key \"when\" in segment"}));
}

TEST(JobErrorsTest, WrongTypes) {
  EXPECT_TRUE(
      OnlyError(Parse("job: t\nlog: log\nsource: {topics: events}\n" + std::string(kSegment)), 3,
                18, {"\"topics\": expected a non-empty list of topic names", "got \"events\""}));
  EXPECT_TRUE(OnlyError(Parse(std::string(kHead) + "segments: {id: s}\n"), 4, 11,
                        {"\"segments\": expected a non-empty list of segments", "got a map"}));
  EXPECT_TRUE(OnlyError(Parse(std::string(kHead) + "segments: []\n"), 4, 11,
                        {"\"segments\"", "got an empty list"}));
  EXPECT_TRUE(OnlyError(Parse(std::string(kHead) + "segments:\n  - just-a-name\n"), 5, 5,
                        {"\"segments[0]\": expected a segment", "got \"just-a-name\""}));
  EXPECT_TRUE(
      OnlyError(Parse("job: t\nlog: [a, b]\nsource: {topics: [e]}\n" + std::string(kSegment)), 2, 6,
                {"\"log\": expected a directory path", "got a list"}));
  EXPECT_TRUE(OnlyError(Parse("job: t\nlog: log\nsource: [events]\n" + std::string(kSegment)), 3, 9,
                        {"\"source\": expected a map", "got a list"}));
}

TEST(JobErrorsTest, EmptyValueReportedAtItsKey) {
  auto r = Parse("job: t\nlog:\nsource: {topics: [events]}\n" + std::string(kSegment));
  EXPECT_TRUE(OnlyError(r, 2, 1, {"\"log\": expected a directory path, got null"}));
}

TEST(JobErrorsTest, BadJobName) {
  auto r = Parse("job: Cart Abandon\nlog: log\nsource: {topics: [e]}\n" + std::string(kSegment));
  EXPECT_TRUE(
      OnlyError(r, 1, 6, {"\"job\": expected a job name", "[a-z0-9_-]+", "got \"Cart Abandon\""}));
  EXPECT_TRUE(OnlyError(Parse("job: ''\nlog: log\nsource: {topics: [e]}\n" + std::string(kSegment)),
                        1, 6, {"\"job\": expected a job name"}));
}

TEST(JobErrorsTest, BadDurations) {
  for (const char* bad : {"30x", "5", "-1s", "1.5h", "'10 m'", "m", "30M", "[1h]", "5s5"}) {
    std::string cond = std::string("{count: {event: play, window: ") + bad + ", at_least: 1}}";
    ExpectCondError(cond, bad,
                    {"\"window\": expected a duration",
                     "non-negative integer and a unit (ms, s, m, h, d or w)"});
  }
  ExpectCondError("{count: {event: play, window: 30x, at_least: 1}}", "30x", {"got \"30x\""});
  auto r = Parse("job: t\nlog: log\nsource: {topics: [e], max_out_of_orderness: 5 s}\n" +
                 std::string(kSegment));
  EXPECT_TRUE(
      OnlyError(r, 3, 45, {"\"max_out_of_orderness\": expected a duration", "got \"5 s\""}));
}

TEST(JobErrorsTest, ConditionWithZeroKeys) {
  ExpectCondError("{}", "{", {"\"when\": empty condition", "exactly one key"});
}

TEST(JobErrorsTest, ConditionWithTwoKeys) {
  ExpectCondError("{count: {event: play, at_least: 1}, window: 1h}", "window",
                  {"condition has 2 keys (\"count\", \"window\")", "exactly one key"});
}

TEST(JobErrorsTest, ConditionNotAMap) {
  ExpectCondError("[count]", "[", {"\"when\": expected a condition", "got a list"});
}

TEST(JobErrorsTest, UnknownConditionName) {
  ExpectCondError("{cnt: {event: play, at_least: 1}}", "cnt",
                  {"unknown condition \"cnt\" (did you mean \"count\"?)"});
  ExpectCondError("{frobnicate: 1}", "frobnicate",
                  {"unknown condition \"frobnicate\" (expected count, sum, avg"});
}

TEST(JobErrorsTest, CountBounds) {
  ExpectCondError("{count: {event: play}}", "count",
                  {"count needs exactly one of at_least, at_most or between"});
  ExpectCondError("{count: {event: play, at_least: 1, at_most: 3}}", "at_most",
                  {"\"at_least\" with \"at_most\" in count", "between: [lo, hi]"});
  ExpectCondError("{count: {event: play, between: [1, 3], at_least: 1}}", "at_least",
                  {"\"between\" with \"at_least\" in count"});
  ExpectCondError("{count: {event: play, between: 3}}", "3",
                  {"\"between\": expected a list [lo, hi] of two non-negative integers"});
  ExpectCondError("{count: {event: play, between: [1, 2, 3]}}", "[1",
                  {"\"between\": expected a list [lo, hi]", "got a list"});
  ExpectCondError("{count: {event: play, between: [5, 2]}}", "[5",
                  {"\"between\": lower bound 5 is greater than upper bound 2"});
  ExpectCondError("{count: {event: play, between: [-1, 2]}}", "-1",
                  {"\"between[0]\": expected a non-negative integer, got -1"});
  ExpectCondError("{count: {event: play, at_least: -1}}", "-1",
                  {"\"at_least\": expected a non-negative integer, got -1"});
  ExpectCondError("{count: {event: play, at_most: 2.5}}", "2.5",
                  {"\"at_most\": expected a non-negative integer, got 2.5"});
  ExpectCondError("{count: {event: play, at_least: '3'}}", "'3'",
                  {"\"at_least\": expected a non-negative integer, got \"3\""});
}

TEST(JobErrorsTest, AggregateNeedsFieldAndBound) {
  ExpectCondError("{sum: {event: pay, gt: 5}}", "sum", {"missing required key \"field\" in sum"});
  ExpectCondError("{avg: {event: pay, field: amount}}", "avg",
                  {"avg needs at least one bound: gt, gte, lt, lte or eq"});
  ExpectCondError("{max: {event: pay, field: amount, gte: \"300\"}}", "\"300\"",
                  {"\"gte\": expected a number, got \"300\""});
  ExpectCondError("{min: {event: pay, field: amount, lt: true}}", "true",
                  {"\"lt\": expected a number, got true"});
  ExpectCondError("{sum: {event: pay, field: amount, eq: .nan}}", ".nan",
                  {"\"eq\": expected a number"});
  ExpectCondError("{sum: {event: pay, field: amount, gte: 1, at_least: 2}}", "at_least",
                  {"unknown key \"at_least\" in sum"});
  ExpectCondError("{sum: {event: pay, field: 'a..b', gt: 1}}", "'a..b'",
                  {"\"field\": expected a property path"});
}

TEST(JobErrorsTest, DistinctNeedsFieldAndOneBound) {
  ExpectCondError("{distinct: {event: play, at_least: 2}}", "distinct",
                  {"missing required key \"field\" in distinct"});
  ExpectCondError("{distinct: {event: play, field: genre}}", "distinct",
                  {"distinct needs exactly one of at_least or at_most"});
  ExpectCondError("{distinct: {event: play, field: genre, at_least: 2, at_most: 5}}", "at_most",
                  {"\"at_least\" with \"at_most\" in distinct"});
}

TEST(JobErrorsTest, AbsenceNeedsAfterMissingWithin) {
  std::string cond = "{absence: {after: {event: a}}}";
  auto r = Parse(WithCondition(cond));
  ASSERT_EQ(r.errors.size(), 2u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], kCondLine, CondCol(cond, "absence"),
                      {"missing required key \"missing\" in absence"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], kCondLine, CondCol(cond, "absence"),
                      {"missing required key \"within\" in absence"}));
  ExpectCondError("{absence: {missing: {event: b}, within: 1h}}", "absence",
                  {"missing required key \"after\" in absence"});
  // A misspelt key is unknown, and the key it was meant to be is missing.
  cond = "{absence: {after: {event: a}, missing: {evnt: b}, within: 1h}}";
  r = Parse(WithCondition(cond));
  ASSERT_EQ(r.errors.size(), 2u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], kCondLine, CondCol(cond, "missing"),
                      {"missing required key \"event\" in absence.missing"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], kCondLine, CondCol(cond, "evnt"),
                      {"unknown key \"evnt\" in absence.missing (did you mean \"event\"?)"}));
}

TEST(JobErrorsTest, SequenceNeedsStepsAndWithin) {
  ExpectCondError("{sequence: {within: 1h}}", "sequence",
                  {"missing required key \"steps\" in sequence"});
  ExpectCondError("{sequence: {steps: [], within: 1h}}", "[]",
                  {"\"steps\": expected a non-empty list of event matches, got an empty list"});
  ExpectCondError("{sequence: {steps: [{event: a}, {event: b}]}}", "sequence",
                  {"missing required key \"within\" in sequence"});
  ExpectCondError("{sequence: {steps: [{event: a}, b], within: 1h}}", "b]",
                  {"\"steps[1]\": expected an event match", "got \"b\""});
}

TEST(JobErrorsTest, AllAnyNot) {
  ExpectCondError("{all: []}", "[]", {"\"all\": empty list; expected at least one condition"});
  ExpectCondError("{any: []}", "[]", {"\"any\": empty list"});
  ExpectCondError("{all: {count: {event: a, at_least: 1}}}", "{count",
                  {"\"all\": expected a non-empty list of conditions, got a map"});
  ExpectCondError("{not: [{count: {event: a, at_least: 1}}]}", "[",
                  {"\"not\": expected a single condition", "not: {any: [...]}"});
  ExpectCondError("{any: [{count: {event: a, at_least: 1}}, 5]}", "5",
                  {"\"any[1]\": expected a condition", "got 5"});
  ExpectCondError("{all: [{not: {cnt: {event: a}}}]}", "cnt", {"unknown condition \"cnt\""});
}

TEST(JobErrorsTest, ProfileCondition) {
  std::string head = std::string(kHead) + "profile: {event: identify}\n";
  auto r = Parse(head + "segments:\n  - id: s\n    when: {profile: {}}\n");
  EXPECT_TRUE(OnlyError(
      r, 7, 21,
      {"\"profile\": expected a non-empty map of attribute: predicate", "got an empty map"}));
  // Without the top-level profile block the condition could never hold.
  ExpectCondError("{profile: {tier: gold}}", "profile",
                  {"profile condition needs a top-level \"profile\" block"});
}

TEST(JobErrorsTest, ProfileAndConsentBlocks) {
  auto r = Parse(std::string(kHead) + "profile: {}\nconsent: {default: maybe}\n" + kSegment);
  ASSERT_EQ(r.errors.size(), 4u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], 4, 1, {"missing required key \"event\" in profile"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 5, 1, {"missing required key \"event\" in consent"}));
  EXPECT_TRUE(ErrorIs(r.errors[2], 5, 1, {"missing required key \"field\" in consent"}));
  EXPECT_TRUE(
      ErrorIs(r.errors[3], 5, 20, {"\"default\": expected granted or denied", "got \"maybe\""}));
  EXPECT_TRUE(OnlyError(Parse(std::string(kHead) + "profile: identify\n" + kSegment), 4, 10,
                        {"\"profile\": expected a map with event"}));
  EXPECT_TRUE(OnlyError(
      Parse(std::string(kHead) + "consent: {event: c, field: g, default: true}\n" + kSegment), 4,
      40, {"\"default\": expected granted or denied, got true"}));
}

TEST(JobErrorsTest, MatchNeedsEvent) {
  ExpectCondError("{count: {where: {a: 1}, at_least: 1}}", "count",
                  {"missing required key \"event\" in count"});
  ExpectCondError("{count: {event: {name: a}, at_least: 1}}", "{name",
                  {"\"event\": expected an event name, a non-empty list of event names, or \"*\"",
                   "got a map"});
  ExpectCondError("{count: {event: [], at_least: 1}}", "[]",
                  {"\"event\": expected an event name", "got an empty list"});
  ExpectCondError("{count: {event: ~, at_least: 1}}", "event", {"\"event\"", "got null"});
  ExpectCondError("{count: {event: [a, \"*\"], at_least: 1}}", "\"*\"",
                  {"\"*\" cannot be listed with other event names"});
  ExpectCondError("{count: {event: [a, [b]], at_least: 1}}", "[b]",
                  {"\"event[1]\": expected an event name, got a list"});
  ExpectCondError("{count: {event: a, where: [x], at_least: 1}}", "[x]",
                  {"\"where\": expected a map of property: predicate, got a list"});
}

TEST(JobErrorsTest, BadPredicates) {
  auto where = [](std::string_view pred) {
    return "{count: {event: a, where: {price: " + std::string(pred) + "}, at_least: 1}}";
  };
  ExpectCondError(where("{gtt: 5}"), "gtt",
                  {"unknown predicate operator \"gtt\" for \"price\" (did you mean \"gt\"?)"});
  ExpectCondError(where("{in: premium}"), "premium",
                  {"\"in\": expected a list of scalar values, got \"premium\""});
  ExpectCondError(where("{not_in: [a, [b]]}"), "[b]",
                  {"\"not_in[1]\": expected a scalar value, got a list"});
  ExpectCondError(where("{in: [a, {b: 1}]}"), "{b",
                  {"\"in[1]\": expected a scalar value, got a map"});
  ExpectCondError(where("{exists: \"yes\"}"), "\"yes\"",
                  {"\"exists\": expected true or false, got \"yes\""});
  ExpectCondError(where("{exists: 1}"), "1}", {"\"exists\": expected true or false, got 1"});
  ExpectCondError(where("{prefix: 12}"), "12", {"\"prefix\": expected a string", "got 12"});
  ExpectCondError(where("{contains: [a]}"), "[a]", {"\"contains\": expected a string"});
  ExpectCondError(where("{lt: [1, 2]}"), "[1",
                  {"\"lt\": expected a number or a string", "got a list"});
  ExpectCondError(where("{lte: {a: 1}}"), "{a",
                  {"\"lte\": expected a number or a string", "got a map"});
  ExpectCondError(where("{gte: true}"), "true", {"\"gte\": expected a number or a string"});
  ExpectCondError(where("{eq: [1]}"), "[1]",
                  {"\"eq\": expected a scalar value", "use in/not_in for a list"});
  ExpectCondError(where("{}"), "{}", {"\"price\": empty predicate"});
  ExpectCondError(where("[a, b]"), "[a",
                  {"\"price\": expected a value or a map of operators", "{in: [...]}"});
  ExpectCondError(where("!foo bar"), "!foo", {"unsupported tag \"!foo\""});
  ExpectCondError(where("99999999999999999999"), "9999",
                  {"integer 99999999999999999999 is out of range"});
  ExpectCondError("{count: {event: a, where: {'a..b': 1}, at_least: 1}}", "'a..b'",
                  {"bad property \"a..b\" in where"});
}

TEST(JobErrorsTest, DuplicateSegmentId) {
  auto r = Parse(std::string(kHead) +
                 "segments:\n"
                 "  - id: a\n"
                 "    when: {count: {event: x, at_least: 1}}\n"
                 "  - id: a\n"
                 "    when: {count: {event: y, at_least: 1}}\n");
  EXPECT_TRUE(OnlyError(r, 7, 9, {"duplicate segment id \"a\" (first defined at line 5)"}));
}

TEST(JobErrorsTest, BadSegmentId) {
  auto r = Parse(std::string(kHead) +
                 "segments:\n  - id: 'has space'\n    when: {count: {event: x, at_least: 1}}\n");
  EXPECT_TRUE(OnlyError(r, 5, 9, {"\"id\": expected a segment id"}));
}

TEST(JobErrorsTest, UnknownSegmentReference) {
  auto r = Parse(std::string(kHead) +
                 "segments:\n"
                 "  - id: vip\n"
                 "    when: {profile: {vip: true}}\n"
                 "  - id: b\n"
                 "    when: {not: {segment: vpi}}\n"
                 "  - id: c\n"
                 "    when: {segment: zzz}\n"
                 "profile: {event: identify}\n");
  ASSERT_EQ(r.errors.size(), 2u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], 8, 27, {"unknown segment \"vpi\" (did you mean \"vip\"?)"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 10, 21, {"unknown segment \"zzz\" (defined: vip, b or c)"}));
}

TEST(JobErrorsTest, SelfReference) {
  ExpectCondError("{any: [{segment: s}, {count: {event: a, at_least: 1}}]}", "s}",
                  {"segment \"s\" refers to itself"});
}

TEST(JobErrorsTest, TwoSegmentCycleReportsPath) {
  auto r = Parse(std::string(kHead) +
                 "segments:\n"
                 "  - id: a\n"
                 "    when: {segment: b}\n"
                 "  - id: b\n"
                 "    when: {segment: a}\n");
  EXPECT_TRUE(OnlyError(r, 8, 21, {"segment reference cycle: a -> b -> a"}));
}

TEST(JobErrorsTest, LongerCycleReportsPath) {
  auto r = Parse(std::string(kHead) +
                 "segments:\n"
                 "  - id: entry\n"                                  // 5
                 "    when: {segment: a}\n"                         // 6
                 "  - id: a\n"                                      // 7
                 "    when: {all: [{segment: b}, {segment: x}]}\n"  // 8
                 "  - id: b\n"                                      // 9
                 "    when: {segment: c}\n"                         // 10
                 "  - id: c\n"                                      // 11
                 "    when: {any: [{segment: x}, {segment: a}]}\n"  // 12
                 "  - id: x\n"                                      // 13
                 "    when: {count: {event: e, at_least: 1}}\n");
  EXPECT_TRUE(OnlyError(r, 12, 42, {"segment reference cycle: a -> b -> c -> a"}));
}

TEST(JobErrorsTest, ReferenceDagIsValid) {
  auto r = Parse(std::string(kHead) +
                 "segments:\n"
                 "  - id: top\n"
                 "    when: {all: [{segment: l}, {segment: r}]}\n"
                 "  - id: l\n"
                 "    when: {segment: base}\n"
                 "  - id: r\n"
                 "    when: {not: {segment: base}}\n"
                 "  - id: base\n"
                 "    when: {count: {event: e, at_least: 1}}\n");
  EXPECT_TRUE(r.ok()) << Describe(r);
}

TEST(JobErrorsTest, MembershipErrors) {
  // The membership line is line 7; its value starts at column 17.
  auto seg = [](std::string_view membership) {
    return std::string(kHead) + kSegment + "    membership: " + std::string(membership) + "\n";
  };
  auto col = [](std::string_view membership, std::string_view needle) {
    return 17 + static_cast<int>(membership.find(needle));
  };
  std::string m = "{duration: forever}";
  EXPECT_TRUE(OnlyError(Parse(seg(m)), 7, col(m, "forever"),
                        {"\"duration\": expected a duration", "got \"forever\""}));
  m = "{cooldown: -5m}";
  EXPECT_TRUE(OnlyError(Parse(seg(m)), 7, col(m, "-5m"), {"\"cooldown\": expected a duration"}));
  m = "{exit_on: {where: {a: 1}}}";
  EXPECT_TRUE(OnlyError(Parse(seg(m)), 7, col(m, "exit_on"),
                        {"missing required key \"event\" in membership.exit_on"}));
  m = "{exit_on: purchase}";
  EXPECT_TRUE(OnlyError(Parse(seg(m)), 7, col(m, "purchase"),
                        {"\"exit_on\": expected an event match", "got \"purchase\""}));
  m = "{exit_on: {event: p, where: {x: {in: 3}}}}";
  EXPECT_TRUE(OnlyError(Parse(seg(m)), 7, col(m, "3"), {"\"in\": expected a list"}));
  m = "{exit_on: {event: p}, cooldwn: 1h}";
  EXPECT_TRUE(OnlyError(Parse(seg(m)), 7, col(m, "cooldwn"),
                        {"unknown key \"cooldwn\" in membership (did you mean \"cooldown\"?)"}));
  EXPECT_TRUE(
      OnlyError(Parse(seg("[duration]")), 7, 17, {"\"membership\": expected a map", "got a list"}));
}

TEST(JobErrorsTest, SourceFieldRoles) {
  // The fields value starts at line 3, column 31.
  auto src = [](std::string_view fields) {
    return "job: t\nlog: log\nsource: {topics: [e], fields: " + std::string(fields) + "}\n" +
           kSegment;
  };
  auto col = [](std::string_view fields, std::string_view needle) {
    return 31 + static_cast<int>(fields.find(needle));
  };
  std::string f = "{uid: user_id}";
  EXPECT_TRUE(OnlyError(Parse(src(f)), 3, col(f, "uid"),
                        {"unknown role \"uid\" in source.fields (expected user, event or time)"}));
  f = "{user: id, event: id}";
  EXPECT_TRUE(OnlyError(Parse(src(f)), 3, col(f, "id}"),
                        {"field \"id\" is both the user and the event field"}));
  f = "{event: ts}";
  EXPECT_TRUE(OnlyError(Parse(src(f)), 3, col(f, "ts"),
                        {"field \"ts\" is both the event and the time field"}));
  EXPECT_TRUE(
      OnlyError(Parse(src("[user]")), 3, 31, {"\"fields\": expected a map of role: field name"}));
}

TEST(JobErrorsTest, TopicNames) {
  EXPECT_TRUE(
      OnlyError(Parse("job: t\nlog: log\nsource: {topics: [a, 'b c']}\n" + std::string(kSegment)),
                3, 22, {"\"topics[1]\": expected a topic name"}));
  EXPECT_TRUE(
      OnlyError(Parse("job: t\nlog: log\nsource: {topics: [a, a]}\n" + std::string(kSegment)), 3,
                22, {"duplicate topic \"a\""}));
  EXPECT_TRUE(OnlyError(Parse(std::string(kHead) + kSegment + "output: {changelog: events}\n"), 7,
                        21, {"topic \"events\" is also a source topic"}));
  EXPECT_TRUE(OnlyError(Parse(std::string(kHead) + kSegment + "output: {changelog: t.late}\n"), 7,
                        21, {"late topic"}));
}

TEST(JobErrorsTest, Parallelism) {
  std::string base = std::string(kHead) + kSegment;
  EXPECT_TRUE(OnlyError(Parse(base + "parallelism: 0\n"), 7, 14,
                        {"\"parallelism\": expected an integer from 1 to 32768, got 0"}));
  EXPECT_TRUE(OnlyError(Parse(base + "parallelism: two\n"), 7, 14,
                        {"\"parallelism\": expected an integer", "got \"two\""}));
  EXPECT_TRUE(OnlyError(Parse(base + "parallelism: 1.5\n"), 7, 14, {"got 1.5"}));
  EXPECT_TRUE(OnlyError(Parse(base + "parallelism: 4\nmax_parallelism: 2\n"), 8, 18,
                        {"\"parallelism\" 4 exceeds \"max_parallelism\" 2"}));
  EXPECT_TRUE(OnlyError(Parse(base + "parallelism: 200\n"), 7, 14,
                        {"\"parallelism\" 200 exceeds \"max_parallelism\" 128"}));
  EXPECT_TRUE(OnlyError(Parse(base + "max_parallelism: 40000\n"), 7, 18,
                        {"\"max_parallelism\": expected an integer from 1 to 32768"}));
}

TEST(JobErrorsTest, CheckpointInterval) {
  std::string base = std::string(kHead) + kSegment;
  EXPECT_TRUE(OnlyError(Parse(base + "checkpoint: {interval: 0s}\n"), 7, 24,
                        {"\"interval\": expected a positive duration"}));
  EXPECT_TRUE(OnlyError(Parse(base + "checkpoint: {interval: ten}\n"), 7, 24,
                        {"\"interval\": expected a duration", "got \"ten\""}));
  EXPECT_TRUE(
      OnlyError(Parse(base + "checkpoint: 10s\n"), 7, 13, {"\"checkpoint\": expected a map"}));
}

TEST(JobErrorsTest, SeveralErrorsAllReportedInFileOrder) {
  const std::vector<std::string> lines = {
      "job: Bad_Name",                                                         // 1
      "log: log",                                                              // 2
      "source:",                                                               // 3
      "  topics: events",                                                      // 4
      "  idle_timeout: soon",                                                  // 5
      "segments:",                                                             // 6
      "  - id: a",                                                             // 7
      "    when: {count: {event: play, windw: 1h, at_least: 1, at_most: 2}}",  // 8
      "  - id: a",                                                             // 9
      "    when: {segment: zz}",                                               // 10
      "parallelism: 0",                                                        // 11
  };
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  auto r = Parse(text);
  ASSERT_EQ(r.errors.size(), 8u) << Describe(r);
  EXPECT_TRUE(ErrorIs(r.errors[0], 1, 6, {"\"job\": expected a job name"}));
  EXPECT_TRUE(ErrorIs(r.errors[1], 4, 11, {"\"topics\": expected a non-empty list"}));
  EXPECT_TRUE(ErrorIs(r.errors[2], 5, 17, {"\"idle_timeout\": expected a duration"}));
  EXPECT_TRUE(ErrorIs(r.errors[3], 8, Col(lines[7], "windw"), {"unknown key \"windw\""}));
  EXPECT_TRUE(ErrorIs(r.errors[4], 8, Col(lines[7], "at_most"), {"\"at_least\" with \"at_most\""}));
  EXPECT_TRUE(ErrorIs(r.errors[5], 9, 9, {"duplicate segment id \"a\""}));
  EXPECT_TRUE(ErrorIs(r.errors[6], 10, 21, {"unknown segment \"zz\""}));
  EXPECT_TRUE(ErrorIs(r.errors[7], 11, 14, {"\"parallelism\": expected an integer"}));
  // ErrorText: one "<file>:<line>:<column>: <message>" per line, in the same order.
  std::string text_out = r.ErrorText();
  EXPECT_EQ(text_out.rfind("/srv/jobs/test.yaml:1:6: \"job\": expected", 0), 0u) << text_out;
  EXPECT_EQ(std::count(text_out.begin(), text_out.end(), '\n'), 8);
}

TEST(JobErrorsTest, UnreadableFile) {
  auto r = ParseJobFile("/nonexistent-dir/job.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_EQ(r.errors[0].ToString().rfind("/nonexistent-dir/job.yaml: cannot read job file", 0), 0u)
      << r.errors[0].ToString();
}

TEST(JobErrorsTest, DeepNestingIsAnErrorNotACrash) {
  std::string cond;
  for (int i = 0; i < 100; ++i) cond += "{not: ";
  cond += "{count: {event: e, at_least: 1}}";
  for (int i = 0; i < 100; ++i) cond += "}";
  auto r = testing_util::Parse(testing_util::WithCondition(cond));
  ASSERT_EQ(r.errors.size(), 1u) << testing_util::Describe(r);
  EXPECT_NE(r.errors[0].message.find("nested more than 64 levels"), std::string::npos)
      << r.errors[0].ToString();
  // Far deeper than the job file's nesting limit: refused with a position (the limit is
  // checked before yaml-cpp's own guard, at 2000 levels, is reached).
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  r = testing_util::Parse("job: t\nlog: " + deep + "\n");
  ASSERT_EQ(r.errors.size(), 1u) << testing_util::Describe(r);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("nested more than 256 levels deep"), std::string::npos)
      << r.errors[0].ToString();
}

TEST(JobErrorsTest, TagsMustFitTheirValue) {
  auto where = [](std::string_view pred) {
    return "{count: {event: a, where: {p: " + std::string(pred) + "}, at_least: 1}}";
  };
  std::string cond = where("!!int abc");
  EXPECT_TRUE(testing_util::OnlyError(testing_util::Parse(testing_util::WithCondition(cond)),
                                      testing_util::kCondLine, testing_util::CondCol(cond, "!!int"),
                                      {"\"abc\" does not fit its tag"}));
  cond = where("!!bool yes");
  EXPECT_TRUE(testing_util::OnlyError(
      testing_util::Parse(testing_util::WithCondition(cond)), testing_util::kCondLine,
      testing_util::CondCol(cond, "!!bool"), {"\"yes\" does not fit its tag"}));
}

// output.postgres (spec integrations §11): dsn and table required, unknown keys named, no
// password in the file, the table an identifier Segflow can quote and name side tables after.
TEST(JobErrorsTest, OutputPostgres) {
  const std::string base = std::string(kHead) + kSegment;
  JobParseResult ok =
      Parse(base + "output: {postgres: {dsn: 'host=127.0.0.1 dbname=m', table: public.members}}\n");
  ASSERT_TRUE(ok.ok()) << ok.ErrorText();
  EXPECT_EQ(ok.job.output.postgres.dsn, "host=127.0.0.1 dbname=m");
  EXPECT_EQ(ok.job.output.postgres.table, "public.members");
  EXPECT_TRUE(HasError(Parse(base + "output: {postgres: {dsn: x, tabel: m}}\n"), 7, 29,
                       {"unknown key \"tabel\" in output.postgres", "did you mean \"table\""}));
  EXPECT_TRUE(HasError(Parse(base + "output: {postgres: {dsn: x, tabel: m}}\n"), 7, 10,
                       {"missing required key \"table\""}));
  EXPECT_TRUE(OnlyError(Parse(base + "output: {postgres: {dsn: 'user=a password=b', table: m}}\n"),
                        7, 26, {"holds a password", "PGPASSWORD"}));
  EXPECT_TRUE(
      OnlyError(Parse(base + "output: {postgres: {dsn: 'postgresql://a:b@h/db', table: m}}\n"), 7,
                26, {"holds a password"}));
  EXPECT_TRUE(OnlyError(Parse(base + "output: {postgres: {dsn: x, table: 'a;drop'}}\n"), 7, 36,
                        {"\"table\": expected a table name"}));
  EXPECT_TRUE(OnlyError(Parse(base + "output: {postgres: 5}\n"), 7, 20,
                        {"expected a map with dsn and table"}));
}

}  // namespace
}  // namespace segflow
