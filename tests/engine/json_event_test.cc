// JSON line decoding: spec §1 and §9 "Parsing".
#include "engine/value/json_event.h"

#include <gtest/gtest.h>

#include <string>

namespace segflow {
namespace {

class JsonEventTest : public ::testing::Test {
 protected:
  Status Decode(std::string_view line) { return decoder_.Decode(line, &event_); }
  // The reason a line is rejected ("" when it is accepted).
  std::string Reason(std::string_view line) {
    Status s = Decode(line);
    EXPECT_TRUE(s.ok() || s.code() == Status::Code::kInvalidArgument) << s.ToString();
    return s.ok() ? "" : s.message();
  }
  void ExpectRejected(std::string_view line) {
    Status s = Decode(line);
    EXPECT_FALSE(s.ok()) << "accepted: " << line;
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << line;
  }
  const Value* Prop(std::string_view path) { return event_.props.FindPath(path); }

  JsonEventDecoder decoder_{RoleFields{}};
  Event event_;
};

constexpr int64_t kMay1 = 1777593600000;  // 2026-05-01T00:00:00Z

TEST_F(JsonEventTest, DecodesRoleFieldsAndProperties) {
  ASSERT_TRUE(Decode(R"({"user_id":"u1","event":"play","ts":1777593600000,"genre":"drama"})").ok());
  EXPECT_EQ(event_.user, "u1");
  EXPECT_EQ(event_.type, "play");
  EXPECT_EQ(event_.ts, kMay1);
  ASSERT_NE(Prop("genre"), nullptr);
  EXPECT_EQ(Prop("genre")->as_string(), "drama");
}

TEST_F(JsonEventTest, RoleFieldsAreNotProperties) {
  ASSERT_TRUE(Decode(R"({"ts":5,"a":1,"user_id":"u","event":"e","b":2})").ok());
  ASSERT_TRUE(event_.props.is_object());
  const ValueObject& props = event_.props.as_object();
  ASSERT_EQ(props.size(), 2u);
  EXPECT_EQ(props[0].first, "a");
  EXPECT_EQ(props[1].first, "b");
  EXPECT_EQ(Prop("user_id"), nullptr);
  EXPECT_EQ(Prop("event"), nullptr);
  EXPECT_EQ(Prop("ts"), nullptr);
}

TEST_F(JsonEventTest, RoleFieldNamesComeFromTheSource) {
  JsonEventDecoder custom(RoleFields{"uid", "type", "time"});
  Event e;
  ASSERT_TRUE(custom.Decode(R"({"uid":"x","type":"buy","time":42,"user_id":"p"})", &e).ok());
  EXPECT_EQ(e.user, "x");
  EXPECT_EQ(e.type, "buy");
  EXPECT_EQ(e.ts, 42);
  ASSERT_NE(e.props.Find("user_id"), nullptr);
  EXPECT_EQ(e.props.Find("user_id")->as_string(), "p");
  Status s = custom.Decode(R"({"user_id":"u","type":"buy","time":42})", &e);
  EXPECT_EQ(s.message(), "missing field \"uid\"");
}

TEST_F(JsonEventTest, IntegerUserIsTheSameUserAsItsDecimalString) {
  ASSERT_TRUE(Decode(R"({"user_id":7,"event":"e","ts":1})").ok());
  const std::string from_int = event_.user;
  ASSERT_TRUE(Decode(R"({"user_id":"7","event":"e","ts":1})").ok());
  EXPECT_EQ(from_int, "7");
  EXPECT_EQ(event_.user, from_int);
  ASSERT_TRUE(Decode(R"({"user_id":-12,"event":"e","ts":1})").ok());
  EXPECT_EQ(event_.user, "-12");
  ASSERT_TRUE(Decode(R"({"user_id":-0,"event":"e","ts":1})").ok());
  EXPECT_EQ(event_.user, "0");
}

TEST_F(JsonEventTest, IntegerUserAboveInt64IsKeptExactly) {
  ASSERT_TRUE(Decode(R"({"user_id":18446744073709551615,"event":"e","ts":1})").ok());
  EXPECT_EQ(event_.user, "18446744073709551615");
  ASSERT_TRUE(Decode(R"({"user_id":-9223372036854775808,"event":"e","ts":1})").ok());
  EXPECT_EQ(event_.user, "-9223372036854775808");
}

TEST_F(JsonEventTest, IntegerUserBeyondUint64IsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":18446744073709551616,"event":"e","ts":1})"),
            "field \"user_id\": integer out of range");
}

TEST_F(JsonEventTest, FloatUserIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":7.0,"event":"e","ts":1})"),
            "field \"user_id\": expected string or integer, got float");
  EXPECT_EQ(Reason(R"({"user_id":7e0,"event":"e","ts":1})"),
            "field \"user_id\": expected string or integer, got float");
}

TEST_F(JsonEventTest, BooleanNullArrayObjectUserIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":true,"event":"e","ts":1})"),
            "field \"user_id\": expected string or integer, got boolean");
  EXPECT_EQ(Reason(R"({"user_id":null,"event":"e","ts":1})"),
            "field \"user_id\": expected string or integer, got null");
  EXPECT_EQ(Reason(R"({"user_id":["u"],"event":"e","ts":1})"),
            "field \"user_id\": expected string or integer, got array");
  EXPECT_EQ(Reason(R"({"user_id":{"id":1},"event":"e","ts":1})"),
            "field \"user_id\": expected string or integer, got object");
}

TEST_F(JsonEventTest, EmptyUserOrEventIsRejected) {
  ExpectRejected(R"({"user_id":"","event":"e","ts":1})");
  ExpectRejected(R"({"user_id":"u","event":"","ts":1})");
}

TEST_F(JsonEventTest, EventMustBeAString) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":3,"ts":1})"),
            "field \"event\": expected string, got integer");
  EXPECT_EQ(Reason(R"({"user_id":"u","event":null,"ts":1})"),
            "field \"event\": expected string, got null");
}

TEST_F(JsonEventTest, MissingRoleFieldIsNamed) {
  EXPECT_EQ(Reason(R"({"event":"e","ts":1})"), "missing field \"user_id\"");
  EXPECT_EQ(Reason(R"({"user_id":"u","ts":1})"), "missing field \"event\"");
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e"})"), "missing field \"ts\"");
}

TEST_F(JsonEventTest, TimeAsIntegerEpochMillis) {
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":-1500})").ok());
  EXPECT_EQ(event_.ts, -1500);
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":0})").ok());
  EXPECT_EQ(event_.ts, 0);
}

TEST_F(JsonEventTest, TimeAsRfc3339StringWithOffset) {
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":"2026-05-01T10:00:00Z"})").ok());
  EXPECT_EQ(event_.ts, kMay1 + 10 * 3600000);
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":"2026-05-01T12:00:00.250+02:00"})").ok());
  EXPECT_EQ(event_.ts, kMay1 + 10 * 3600000 + 250);
}

TEST_F(JsonEventTest, TimeTAndZInEitherCase) {
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":"2026-05-01t00:00:00z"})").ok());
  EXPECT_EQ(event_.ts, kMay1);
}

TEST_F(JsonEventTest, TimeFractionOfAnyLengthIsTruncatedToTheMillisecond) {
  ASSERT_TRUE(
      Decode(R"({"user_id":"u","event":"e","ts":"2026-05-01T00:00:00.123999999999Z"})").ok());
  EXPECT_EQ(event_.ts, kMay1 + 123);
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":"2026-05-01T00:00:00.9Z"})").ok());
  EXPECT_EQ(event_.ts, kMay1 + 900);
}

TEST_F(JsonEventTest, TimeAsFloatIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":1777593600000.0})"),
            "field \"ts\": expected integer epoch milliseconds or RFC 3339 string, got float");
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":1.7e12})"),
            "field \"ts\": expected integer epoch milliseconds or RFC 3339 string, got float");
}

TEST_F(JsonEventTest, TimeAsOtherTypesIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":true})"),
            "field \"ts\": expected integer epoch milliseconds or RFC 3339 string, got boolean");
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":null})"),
            "field \"ts\": expected integer epoch milliseconds or RFC 3339 string, got null");
}

TEST_F(JsonEventTest, TimeAsNumericStringIsRejected) {
  const std::string reason = Reason(R"({"user_id":"u","event":"e","ts":"1777593600000"})");
  EXPECT_EQ(reason.rfind("field \"ts\": invalid RFC 3339 time \"1777593600000\"", 0), 0u) << reason;
}

TEST_F(JsonEventTest, TimeWithoutOffsetIsRejected) {
  ExpectRejected(R"({"user_id":"u","event":"e","ts":"2026-05-01T10:00:00"})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":"2026-05-01T10:00:00.5"})");
}

TEST_F(JsonEventTest, TimeWithSpaceForTIsRejected) {
  ExpectRejected(R"({"user_id":"u","event":"e","ts":"2026-05-01 10:00:00Z"})");
}

TEST_F(JsonEventTest, TimeWithSecondSixtyIsRejected) {
  ExpectRejected(R"({"user_id":"u","event":"e","ts":"2016-12-31T23:59:60Z"})");
}

TEST_F(JsonEventTest, TimeOutOfRangeIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":9223372036854775807})"),
            "field \"ts\": epoch milliseconds out of range (years 0000-9999 UTC)");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":9223372036854775808})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":-253402300800000})");
}

TEST_F(JsonEventTest, NotAnObjectIsRejected) {
  EXPECT_EQ(Reason(R"([{"user_id":"u","event":"e","ts":1}])"), "not a JSON object");
  EXPECT_EQ(Reason("42"), "not a JSON object");
  EXPECT_EQ(Reason(R"("text")"), "not a JSON object");
  EXPECT_EQ(Reason("null"), "not a JSON object");
}

TEST_F(JsonEventTest, BlankLineIsRejected) {
  EXPECT_EQ(Reason(""), "blank line");
  EXPECT_EQ(Reason("   \t\r"), "blank line");
}

TEST_F(JsonEventTest, SurroundingWhitespaceAndCarriageReturnAreAccepted) {
  EXPECT_TRUE(Decode(" \t{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1}  \r").ok());
}

TEST_F(JsonEventTest, TrailingTextIsRejected) {
  for (const char* line :
       {R"({"user_id":"u","event":"e","ts":1} x)", R"({"user_id":"u","event":"e","ts":1}{})",
        R"({"user_id":"u","event":"e","ts":1}})", R"({"user_id":"u","event":"e","ts":1},)",
        R"({"user_id":"u","event":"e","ts":1} 5)"}) {
    const std::string reason = Reason(line);
    EXPECT_EQ(reason.rfind("invalid JSON: ", 0), 0u) << line << " -> " << reason;
  }
}

TEST_F(JsonEventTest, TrailingCommasAreRejected) {
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":[1,2,]})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":{"b":1,}})");
}

TEST_F(JsonEventTest, NonFiniteNumbersAreRejected) {
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":NaN})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":Infinity})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":-Infinity})");
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":1e400})");
}

TEST_F(JsonEventTest, MalformedJsonIsRejectedWithSimdjsonReason) {
  for (const char* line :
       {R"({"user_id":"u","event":"e","ts":1)", R"({"user_id":"u","event":"e","ts":1,"a":nul})",
        R"({"user_id":"u","event":"e","ts":1,"a":nullx})",
        R"({"user_id":"u","event":"e","ts":1,"a":truex})",
        R"({"user_id":"u","event":"e","ts":1,"a":01})",
        R"({"user_id":"u","event":"e","ts":1,"a":1.})",
        R"({"user_id":"u","event":"e","ts":1,"a":-})",
        R"({"user_id":"u","event":"e","ts":1,"a" 1})", R"({"user_id":"u","event":"e","ts":1,a:1})",
        R"({"user_id":"u","event":"e","ts":1,"a":'x'})",
        R"({"user_id":"u","event":"e","ts":1,"a":"\x"})",
        R"({"user_id":"u","event":"e","ts":1,"a":[1 2]})",
        R"({"user_id":"u","event":"e","ts":1 "a":1})",
        R"({"user_id":"u","event":"e","ts":1,,"a":1})"}) {
    const std::string reason = Reason(line);
    EXPECT_EQ(reason.rfind("invalid JSON: ", 0), 0u) << line << " -> " << reason;
  }
}

TEST_F(JsonEventTest, UnescapedControlCharacterInStringIsRejected) {
  const std::string line =
      std::string(R"({"user_id":"u","event":"e","ts":1,"a":"x)") + '\x01' + R"("})";
  ExpectRejected(line);
}

TEST_F(JsonEventTest, InvalidUtf8IsRejected) {
  const std::string line =
      std::string(R"({"user_id":"u","event":"e","ts":1,"a":")") + "\xff\xfe" + R"("})";
  ExpectRejected(line);
}

TEST_F(JsonEventTest, EscapesAreDecodedInKeysAndValues) {
  ASSERT_TRUE(
      Decode(R"({"user_id":"u\u00e9","event":"e","ts":1,"k\"ey":"a\nb\u00e9\ud83d\ude00"})").ok());
  EXPECT_EQ(event_.user, "u\xc3\xa9");
  ASSERT_NE(Prop("k\"ey"), nullptr);
  EXPECT_EQ(Prop("k\"ey")->as_string(), "a\nb\xc3\xa9\xf0\x9f\x98\x80");
}

TEST_F(JsonEventTest, NestedObjectsAreKeptAsObjects) {
  ASSERT_TRUE(
      Decode(R"({"user_id":"u","event":"e","ts":1,"device":{"os":"ios","hw":{"ram":4}}})").ok());
  ASSERT_NE(Prop("device"), nullptr);
  EXPECT_TRUE(Prop("device")->is_object());
  ASSERT_NE(Prop("device.os"), nullptr);
  EXPECT_EQ(Prop("device.os")->as_string(), "ios");
  ASSERT_NE(Prop("device.hw.ram"), nullptr);
  EXPECT_EQ(Prop("device.hw.ram")->as_int(), 4);
}

TEST_F(JsonEventTest, ArraysAreKept) {
  ASSERT_TRUE(
      Decode(R"({"user_id":"u","event":"e","ts":1,"tags":["a",1,[true],{"x":null}]})").ok());
  ASSERT_NE(Prop("tags"), nullptr);
  ASSERT_TRUE(Prop("tags")->is_array());
  EXPECT_EQ(Prop("tags")->ToJson(), R"(["a",1,[true],{"x":null}])");
}

TEST_F(JsonEventTest, ScalarPropertyKinds) {
  ASSERT_TRUE(
      Decode(R"({"user_id":"u","event":"e","ts":1,"i":-3,"d":2.5,"b":false,"n":null,"s":""})")
          .ok());
  EXPECT_TRUE(Prop("i")->is_int());
  EXPECT_EQ(Prop("i")->as_int(), -3);
  EXPECT_TRUE(Prop("d")->is_double());
  EXPECT_EQ(Prop("d")->as_double(), 2.5);
  EXPECT_TRUE(Prop("b")->is_bool());
  EXPECT_FALSE(Prop("b")->as_bool());
  EXPECT_TRUE(Prop("n")->is_null());
  EXPECT_TRUE(Prop("s")->is_string());
}

TEST_F(JsonEventTest, IntegersThatFitInt64AreExact) {
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":1,)"
                     R"("max":9223372036854775807,"min":-9223372036854775808,"one":1.0})")
                  .ok());
  ASSERT_TRUE(Prop("max")->is_int());
  EXPECT_EQ(Prop("max")->as_int(), INT64_MAX);
  ASSERT_TRUE(Prop("min")->is_int());
  EXPECT_EQ(Prop("min")->as_int(), INT64_MIN);
  EXPECT_TRUE(Prop("one")->is_double());
}

TEST_F(JsonEventTest, IntegersThatDoNotFitInt64BecomeDoubles) {
  ASSERT_TRUE(Decode(R"({"user_id":"u","event":"e","ts":1,"a":9223372036854775808,)"
                     R"("b":-9223372036854775809,"c":123456789012345678901234567890})")
                  .ok());
  ASSERT_TRUE(Prop("a")->is_double());
  EXPECT_EQ(Prop("a")->as_double(), 9223372036854775808.0);
  ASSERT_TRUE(Prop("b")->is_double());
  EXPECT_EQ(Prop("b")->as_double(), -9223372036854775808.0);
  ASSERT_TRUE(Prop("c")->is_double());
  EXPECT_DOUBLE_EQ(Prop("c")->as_double(), 1.2345678901234568e29);
}

TEST_F(JsonEventTest, DuplicatePropertyIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":1,"a":1,"a":2})"), "duplicate field \"a\"");
}

TEST_F(JsonEventTest, DuplicateRoleFieldIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":1,"user_id":"v"})"),
            "duplicate field \"user_id\"");
  EXPECT_EQ(Reason(R"({"user_id":"u","ts":2,"event":"e","ts":1})"), "duplicate field \"ts\"");
}

TEST_F(JsonEventTest, DuplicateKeyInNestedObjectIsRejected) {
  EXPECT_EQ(Reason(R"({"user_id":"u","event":"e","ts":1,"d":{"os":"a","os":"b"}})"),
            "duplicate field \"os\"");
}

TEST_F(JsonEventTest, DuplicateKeyInLargeObjectIsRejected) {
  std::string line = R"({"user_id":"u","event":"e","ts":1)";
  for (int i = 0; i < 40; ++i) line += ",\"p" + std::to_string(i) + "\":" + std::to_string(i);
  ASSERT_TRUE(Decode(line + "}").ok());
  EXPECT_EQ(event_.props.as_object().size(), 40u);
  EXPECT_EQ(Reason(line + ",\"p3\":0}"), "duplicate field \"p3\"");
  EXPECT_EQ(Reason(line + ",\"x\":{" + line.substr(1) + ",\"p39\":1}}"), "duplicate field \"p39\"");
}

TEST_F(JsonEventTest, DeepNestingIsBoundedAndReportedNotCrashed) {
  std::string ok = R"({"user_id":"u","event":"e","ts":1,"a":)";
  ok += std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_TRUE(Decode(ok).ok());
  std::string deep = R"({"user_id":"u","event":"e","ts":1,"a":)";
  deep += std::string(5000, '[') + std::string(5000, ']') + "}";
  ExpectRejected(deep);
}

TEST_F(JsonEventTest, DecoderIsReusableAfterErrorsAndLongLines) {
  ExpectRejected(R"({"user_id":"u","event":"e","ts":1,"a":[)");
  std::string big =
      R"({"user_id":"u","event":"e","ts":1,"blob":")" + std::string(100000, 'x') + "\"}";
  ASSERT_TRUE(Decode(big).ok());
  EXPECT_EQ(Prop("blob")->as_string().size(), 100000u);
  ASSERT_TRUE(Decode(R"({"user_id":"v","event":"f","ts":2,"z":1})").ok());
  EXPECT_EQ(event_.user, "v");
  EXPECT_EQ(event_.props.as_object().size(), 1u) << "properties of the previous line leaked";
  EXPECT_EQ(Prop("blob"), nullptr);
}

TEST_F(JsonEventTest, LineIsNotReadPastItsLength) {
  // The decoder must honour the view's length, not a terminating NUL.
  const std::string buffer = R"({"user_id":"u","event":"e","ts":1}garbage)";
  ASSERT_TRUE(Decode(std::string_view(buffer).substr(0, buffer.find('}') + 1)).ok());
  EXPECT_EQ(event_.user, "u");
}

TEST(ParseJsonValueTest, ParsesEveryKindOfDocument) {
  auto v = ParseJsonValue(R"({"a":[1,2.5,"x",true,null],"b":{"c":-7}})");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->ToJson(), R"({"a":[1,2.5,"x",true,null],"b":{"c":-7}})");
  ASSERT_TRUE(ParseJsonValue("42").ok());
  EXPECT_EQ(ParseJsonValue("42")->as_int(), 42);
  EXPECT_EQ(ParseJsonValue(" \"s\" ")->as_string(), "s");
  EXPECT_TRUE(ParseJsonValue("null")->is_null());
  EXPECT_TRUE(ParseJsonValue("true")->as_bool());
  EXPECT_EQ(ParseJsonValue("[]")->as_array().size(), 0u);
}

TEST(ParseJsonValueTest, RejectsInvalidDocuments) {
  for (const char* text : {"", " ", "[1,]", "{\"a\":1,}", "[1] 2", "1 2", "NaN", "{}}", "tru",
                           "\"x", "{\"a\":1,\"a\":2}"}) {
    auto v = ParseJsonValue(text);
    EXPECT_FALSE(v.ok()) << "accepted: " << text;
  }
}

TEST(ParseJsonValueTest, RoundTripsThroughToJson) {
  const Value original = Value::Object({{"i", Value::Int(INT64_MIN)},
                                        {"d", Value::Double(0.1)},
                                        {"s", Value::String("q\"\\\n\x01")},
                                        {"a", Value::Array({Value::Bool(false), Value::Null()})}});
  auto parsed = ParseJsonValue(original.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, original);
  EXPECT_TRUE(parsed->Find("d")->is_double());
  EXPECT_TRUE(parsed->Find("i")->is_int());
}

}  // namespace
}  // namespace segflow
