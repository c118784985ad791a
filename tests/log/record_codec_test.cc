#include "engine/log/record_codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>

#include "log_test_util.h"

namespace segflow::log {
namespace {

// Encodes into a message, serializes it flat, and decodes from the bytes, like the log.
Event RoundTrip(const Event& in) {
  capnp::MallocMessageBuilder builder;
  EncodeRecord(in, builder.initRoot<schema::Record>());
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
  capnp::ReaderOptions options;
  options.nestingLimit = kRecordNestingLimit;
  capnp::FlatArrayMessageReader reader(flat, options);
  Event out;
  Status st = DecodeRecord(reader.getRoot<schema::Record>(), &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(RecordCodecTest, RoundTripsEveryValueKind) {
  Event e;
  e.user = "42";
  e.type = "purchase";
  e.ts = -1234567;  // before the epoch is still a time
  e.props = Value::Object({
      {"null", Value::Null()},
      {"t", Value::Bool(true)},
      {"f", Value::Bool(false)},
      {"int_max", Value::Int(std::numeric_limits<int64_t>::max())},
      {"int_min", Value::Int(std::numeric_limits<int64_t>::min())},
      {"one_float", Value::Double(1.0)},
      {"pi", Value::Double(3.141592653589793)},
      {"tiny", Value::Double(5e-324)},
      {"unicode", Value::String("Grüße, 世界 😀")},
      {"nul", Value::String(std::string("a\0b", 3))},
      {"empty", Value::String("")},
      {"arr", Value::Array({Value::Int(1), Value::Double(1.5), Value::String("x"), Value::Array({}),
                            Value::Object({})})},
      {"device", Value::Object({{"os", Value::String("android")},
                                {"screen", Value::Object({{"w", Value::Int(1080)}})}})},
  });
  Event out = RoundTrip(e);
  EXPECT_EQ(out.user, e.user);
  EXPECT_EQ(out.type, e.type);
  EXPECT_EQ(out.ts, e.ts);
  EXPECT_EQ(out.props.ToJson(), e.props.ToJson());
  // Kinds survive exactly: 1.0 stays a double, integers stay integers.
  EXPECT_TRUE(out.props.Find("one_float")->is_double());
  EXPECT_TRUE(out.props.Find("int_max")->is_int());
  EXPECT_EQ(out.props.Find("nul")->as_string().size(), 3u);
  EXPECT_EQ(out.props.Find("int_min")->as_int(), std::numeric_limits<int64_t>::min());
}

TEST(RecordCodecTest, KeepsFieldOrder) {
  Event e;
  e.user = "u";
  e.type = "t";
  e.props = Value::Object({{"z", Value::Int(1)}, {"a", Value::Int(2)}, {"m", Value::Int(3)}});
  Event out = RoundTrip(e);
  ASSERT_EQ(out.props.as_object().size(), 3u);
  EXPECT_EQ(out.props.as_object()[0].first, "z");
  EXPECT_EQ(out.props.as_object()[2].first, "m");
}

TEST(RecordCodecTest, DeepNesting) {
  Value v = Value::Int(7);
  for (int i = 0; i < 1000; ++i) {
    ValueObject level;
    level.emplace_back("n", std::move(v));
    v = Value::Object(std::move(level));
  }
  Event e;
  e.user = "u";
  e.type = "t";
  e.props = Value::Object({{"deep", v}});
  Event out = RoundTrip(e);
  EXPECT_TRUE(out.props == e.props);
}

TEST(RecordCodecTest, ManyGeneratedEvents) {
  for (uint64_t i = 0; i < 200; ++i) {
    Event e = testing::MakeEvent(i, "tag");
    EXPECT_EQ(testing::Describe(RoundTrip(e)), testing::Describe(e)) << i;
  }
}

TEST(RecordCodecTest, EstimateIsCloseToTheEncodedSize) {
  for (uint64_t i = 0; i < 100; ++i) {
    Event e = testing::MakeEvent(i);
    capnp::MallocMessageBuilder builder;
    EncodeRecord(e, builder.initRoot<schema::Record>());
    const size_t actual = capnp::computeSerializedSizeInWords(builder) * 8;
    EXPECT_GE(EstimateEncodedBytes(e) + 64, actual) << i;
    EXPECT_LE(EstimateEncodedBytes(e), actual * 2 + 64) << i;
  }
}

TEST(RecordCodecTest, MalformedMessageIsCorruptionNotACrash) {
  // A record whose key pointer points far outside the message.
  capnp::word words[5] = {};
  const uint64_t root = 0x0003000100000000ull;  // struct pointer: 1 data word, 3 pointers
  std::memcpy(static_cast<void*>(&words[0]), &root, 8);
  const uint64_t bad_key = 1u | (uint64_t{0x7fffff} << 2) | (uint64_t{2} << 32) | (uint64_t{10} << 35);
  std::memcpy(static_cast<void*>(&words[2]), &bad_key, 8);  // byte list of 10, far out of the segment
  kj::ArrayPtr<const capnp::word> segments[1] = {kj::arrayPtr(words, 5)};
  capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1));
  Event out;
  Status st = DecodeRecord(reader.getRoot<schema::Record>(), &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
}

}  // namespace
}  // namespace segflow::log
