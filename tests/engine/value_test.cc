// Value: kinds, structural equality (spec §9 "Values"), paths and JSON text.
#include "engine/value/value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace segflow {
namespace {

TEST(ValueTest, DefaultIsNull) {
  Value v;
  EXPECT_TRUE(v.is_null());
  EXPECT_TRUE(v.is_scalar());
  EXPECT_EQ(v, Value::Null());
}

TEST(ValueTest, KindsAreDistinct) {
  EXPECT_TRUE(Value::Int(1).is_int());
  EXPECT_TRUE(Value::Int(1).is_number());
  EXPECT_TRUE(Value::Double(1).is_double());
  EXPECT_TRUE(Value::Double(1).is_number());
  EXPECT_TRUE(Value::String("1").is_string());
  EXPECT_TRUE(Value::Bool(true).is_bool());
  EXPECT_FALSE(Value::Array({}).is_scalar());
  EXPECT_FALSE(Value::Object({}).is_scalar());
}

TEST(ValueTest, IntegerEqualsIntegralDouble) {
  EXPECT_EQ(Value::Int(1), Value::Double(1.0));
  EXPECT_EQ(Value::Double(-3.0), Value::Int(-3));
  EXPECT_NE(Value::Int(1), Value::Double(1.5));
}

TEST(ValueTest, BigIntegersCompareWithoutPrecisionLoss) {
  // 2^53 + 1 is not representable as a double; converting would make it equal 2^53.
  const int64_t big = (int64_t{1} << 53) + 1;
  EXPECT_NE(Value::Int(big), Value::Double(static_cast<double>(int64_t{1} << 53)));
  EXPECT_EQ(Value::Int(int64_t{1} << 53), Value::Double(9007199254740992.0));
  EXPECT_NE(Value::Int(std::numeric_limits<int64_t>::max()), Value::Double(9223372036854775808.0));
  EXPECT_EQ(Value::Int(std::numeric_limits<int64_t>::min()), Value::Double(-9223372036854775808.0));
}

TEST(ValueTest, NumberNeverEqualsString) {
  EXPECT_NE(Value::Int(1), Value::String("1"));
  EXPECT_NE(Value::Double(1), Value::String("1"));
}

TEST(ValueTest, BooleanEqualsOnlyBoolean) {
  EXPECT_EQ(Value::Bool(true), Value::Bool(true));
  EXPECT_NE(Value::Bool(true), Value::Int(1));
  EXPECT_NE(Value::Bool(false), Value::Int(0));
  EXPECT_NE(Value::Bool(false), Value::Null());
  EXPECT_NE(Value::Bool(true), Value::String("true"));
}

TEST(ValueTest, NullEqualsOnlyNull) {
  EXPECT_EQ(Value::Null(), Value::Null());
  EXPECT_NE(Value::Null(), Value::Int(0));
  EXPECT_NE(Value::Null(), Value::String(""));
  EXPECT_NE(Value::Null(), Value::Array({}));
}

TEST(ValueTest, NanEqualsNothing) {
  const Value nan = Value::Double(std::nan(""));
  EXPECT_NE(nan, nan);
  EXPECT_NE(nan, Value::Int(0));
}

TEST(ValueTest, ContainersCompareStructurally) {
  EXPECT_EQ(Value::Array({Value::Int(1), Value::String("a")}),
            Value::Array({Value::Double(1), Value::String("a")}));
  EXPECT_NE(Value::Array({Value::Int(1)}), Value::Array({Value::Int(1), Value::Int(1)}));
  EXPECT_EQ(Value::Object({{"a", Value::Int(1)}}), Value::Object({{"a", Value::Int(1)}}));
  EXPECT_NE(Value::Object({{"a", Value::Int(1)}}), Value::Object({{"b", Value::Int(1)}}));
}

TEST(ValueTest, FindLooksUpObjectFields) {
  const Value v = Value::Object({{"a", Value::Int(1)}, {"b", Value::Null()}});
  ASSERT_NE(v.Find("a"), nullptr);
  EXPECT_EQ(v.Find("a")->as_int(), 1);
  ASSERT_NE(v.Find("b"), nullptr);
  EXPECT_TRUE(v.Find("b")->is_null());
  EXPECT_EQ(v.Find("c"), nullptr);
  EXPECT_EQ(Value::Int(1).Find("a"), nullptr);
}

TEST(ValueTest, FindPathWalksNestedObjects) {
  const Value v =
      Value::Object({{"device", Value::Object({{"os", Value::String("ios")},
                                               {"hw", Value::Object({{"ram", Value::Int(4)}})}})},
                     {"tags", Value::Array({Value::Object({{"x", Value::Int(1)}})})}});
  ASSERT_NE(v.FindPath("device.os"), nullptr);
  EXPECT_EQ(v.FindPath("device.os")->as_string(), "ios");
  EXPECT_EQ(v.FindPath("device.hw.ram")->as_int(), 4);
  EXPECT_TRUE(v.FindPath("device")->is_object());
  EXPECT_EQ(v.FindPath("device.cpu"), nullptr);
  EXPECT_EQ(v.FindPath("device.os.name"), nullptr);
  EXPECT_EQ(v.FindPath("tags.x"), nullptr) << "paths do not descend into arrays";
  EXPECT_EQ(v.FindPath("nope.os"), nullptr);
}

TEST(ValueTest, ToJsonIsCompact) {
  const Value v = Value::Object({{"s", Value::String("a\"b\\c\n\x01")},
                                 {"i", Value::Int(-7)},
                                 {"b", Value::Bool(true)},
                                 {"n", Value::Null()},
                                 {"a", Value::Array({Value::Int(1), Value::Double(2.5)})}});
  EXPECT_EQ(v.ToJson(), R"({"s":"a\"b\\c\n\u0001","i":-7,"b":true,"n":null,"a":[1,2.5]})");
}

TEST(ValueTest, IntegralDoubleStaysADoubleInJson) {
  EXPECT_EQ(Value::Double(3).ToJson(), "3.0");
  // Shortest text that reads back as the same double.
  EXPECT_EQ(Value::Double(0.1).ToJson(), "0.1");
  EXPECT_EQ(Value::Double(1e300).ToJson(), "1e+300");
  for (double d : {0.1, 1.0 / 3.0, 2.5e-308, 123456789.125, -7.0}) {
    EXPECT_EQ(std::stod(Value::Double(d).ToJson()), d);
  }
}

}  // namespace
}  // namespace segflow
