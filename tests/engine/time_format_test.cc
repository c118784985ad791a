// RFC 3339 times, TIME arguments and durations (spec §1, §3, §8, §9 "Parsing").
#include "engine/value/time_format.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>

namespace segflow {
namespace {

constexpr int64_t kMay1 = 1777593600000;  // 2026-05-01T00:00:00Z
constexpr int64_t kHour = 3600000;

int64_t Rfc(std::string_view text) {
  auto r = ParseRfc3339Millis(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

int64_t Dur(std::string_view text) {
  auto r = ParseDurationMillis(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

int64_t TimeArg(std::string_view text) {
  auto r = ParseTimeArg(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

bool RfcRejected(std::string_view text) {
  auto r = ParseRfc3339Millis(text);
  return !r.ok() && r.status().code() == Status::Code::kInvalidArgument;
}

TEST(Rfc3339Test, ParsesUtc) {
  EXPECT_EQ(Rfc("2026-05-01T00:00:00Z"), kMay1);
  EXPECT_EQ(Rfc("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Rfc("2026-05-01T10:11:12Z"), kMay1 + 10 * kHour + 11 * 60000 + 12000);
}

TEST(Rfc3339Test, AppliesOffsets) {
  EXPECT_EQ(Rfc("2026-05-01T12:00:00.250+02:00"), kMay1 + 10 * kHour + 250);
  EXPECT_EQ(Rfc("2026-04-30T19:30:00-04:30"), kMay1);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00+00:00"), kMay1);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00-00:00"), kMay1);
}

TEST(Rfc3339Test, TAndZInEitherCase) {
  EXPECT_EQ(Rfc("2026-05-01t00:00:00z"), kMay1);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00z"), kMay1);
  EXPECT_EQ(Rfc("2026-05-01t00:00:00Z"), kMay1);
}

TEST(Rfc3339Test, FractionsOfAnyLengthAreTruncatedToTheMillisecond) {
  EXPECT_EQ(Rfc("2026-05-01T00:00:00.1Z"), kMay1 + 100);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00.12Z"), kMay1 + 120);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00.123Z"), kMay1 + 123);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00.1239Z"), kMay1 + 123);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00.999999999999999999999999Z"), kMay1 + 999);
  EXPECT_EQ(Rfc("2026-05-01T00:00:00.000999+01:00"), kMay1 - kHour);
}

TEST(Rfc3339Test, PreEpochTimesTruncateTheFractionNotTheInstant) {
  EXPECT_EQ(Rfc("1969-12-31T23:59:59.9999Z"), -1);
  EXPECT_EQ(Rfc("1969-12-31T23:59:59.001Z"), -999);
}

TEST(Rfc3339Test, RequiresAnOffset) {
  EXPECT_TRUE(RfcRejected("2026-05-01T00:00:00"));
  EXPECT_TRUE(RfcRejected("2026-05-01T00:00:00.5"));
}

TEST(Rfc3339Test, RequiresSeconds) {
  EXPECT_TRUE(RfcRejected("2026-05-01T00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-05-01Z"));
  EXPECT_TRUE(RfcRejected("2026-05-01"));
}

TEST(Rfc3339Test, RejectsSpaceForT) {
  EXPECT_TRUE(RfcRejected("2026-05-01 00:00:00Z"));
}

TEST(Rfc3339Test, RejectsSecondSixty) {
  EXPECT_TRUE(RfcRejected("2016-12-31T23:59:60Z"));
  EXPECT_EQ(Rfc("2016-12-31T23:59:59Z") + 1000, Rfc("2017-01-01T00:00:00Z"));
}

TEST(Rfc3339Test, RejectsNumericString) {
  EXPECT_TRUE(RfcRejected("1777593600000"));
  EXPECT_TRUE(RfcRejected("0"));
}

TEST(Rfc3339Test, RejectsOutOfRangeFields) {
  EXPECT_TRUE(RfcRejected("2026-13-01T00:00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-00-01T00:00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-04-31T00:00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-02-29T00:00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-05-00T00:00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-05-01T24:00:00Z"));
  EXPECT_TRUE(RfcRejected("2026-05-01T00:60:00Z"));
  EXPECT_TRUE(RfcRejected("2026-05-01T00:00:00+24:00"));
  EXPECT_TRUE(RfcRejected("2026-05-01T00:00:00+01:60"));
}

TEST(Rfc3339Test, AcceptsLeapDays) {
  EXPECT_EQ(Rfc("2024-02-29T00:00:00Z") + 86400000, Rfc("2024-03-01T00:00:00Z"));
  EXPECT_EQ(Rfc("2000-02-29T00:00:00Z") + 86400000, Rfc("2000-03-01T00:00:00Z"));
  EXPECT_TRUE(RfcRejected("1900-02-29T00:00:00Z"));
}

TEST(Rfc3339Test, RejectsMalformedText) {
  for (const char* text :
       {"", "2026-5-01T00:00:00Z", "2026-05-01T0:00:00Z", "2026-05-01T00:00:00.Z",
        "2026-05-01T00:00:00+0200", "2026-05-01T00:00:00+02", "2026-05-01T00:00:00Zjunk",
        " 2026-05-01T00:00:00Z", "2026-05-01T00:00:00Z ", "+2026-05-01T00:00:00Z",
        "2026-05-01T00:00:00,5Z", "2026/05/01T00:00:00Z", "２026-05-01T00:00:00Z"}) {
    EXPECT_TRUE(RfcRejected(text)) << text;
  }
}

TEST(Rfc3339Test, RangeIsYears0000To9999Utc) {
  EXPECT_EQ(Rfc("0000-01-01T00:00:00Z"), kMinTimeMillis);
  EXPECT_EQ(Rfc("9999-12-31T23:59:59.999Z"), kMaxTimeMillis);
  EXPECT_TRUE(RfcRejected("0000-01-01T00:00:00+00:01"));
  EXPECT_TRUE(RfcRejected("9999-12-31T23:59:59.999-00:01"));
}

TEST(Rfc3339Test, AgreesWithTimegmOverManyDates) {
  // Every 7919th hour over ~60 years against the C library.
  for (int64_t h = 0; h < 24 * 366 * 60; h += 7919) {
    const int64_t ms = (h - 24 * 366 * 20) * kHour + (h % 1000);
    const time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    ASSERT_NE(gmtime_r(&secs, &tm), nullptr);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms - static_cast<int64_t>(secs) * 1000));
    EXPECT_EQ(Rfc(buf), ms) << buf;
    EXPECT_EQ(FormatRfc3339Millis(ms), buf);
  }
}

TEST(FormatRfc3339Test, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339Millis(kMay1 + 10 * kHour), "2026-05-01T10:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(kMay1 + 7), "2026-05-01T00:00:00.007Z");
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(kMinTimeMillis), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(kMaxTimeMillis), "9999-12-31T23:59:59.999Z");
}

TEST(FormatRfc3339Test, RoundTripsThroughParse) {
  for (int64_t ms :
       {kMinTimeMillis, int64_t{-86400001}, int64_t{-1}, int64_t{0}, kMay1 + 123, kMaxTimeMillis}) {
    EXPECT_EQ(Rfc(FormatRfc3339Millis(ms)), ms) << ms;
  }
}

TEST(TimeArgTest, AcceptsEpochMillis) {
  EXPECT_EQ(TimeArg("1777593600000"), kMay1);
  EXPECT_EQ(TimeArg("0"), 0);
  EXPECT_EQ(TimeArg("-5"), -5);
  EXPECT_EQ(TimeArg("007"), 7);
}

TEST(TimeArgTest, AcceptsRfc3339) {
  EXPECT_EQ(TimeArg("2026-05-01T02:00:00+02:00"), kMay1);
}

TEST(TimeArgTest, RejectsEverythingElse) {
  for (const char* text : {"", "-", "1.5", "1e3", "+5", "12abc", "2026-05-01", "now",
                           "2026-05-01T00:00:00", "99999999999999999999", "253402300800000"}) {
    auto r = ParseTimeArg(text);
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << text;
  }
}

TEST(DurationTest, AcceptsEveryUnit) {
  EXPECT_EQ(Dur("0s"), 0);
  EXPECT_EQ(Dur("500ms"), 500);
  EXPECT_EQ(Dur("5s"), 5000);
  EXPECT_EQ(Dur("30m"), 30 * 60000);
  EXPECT_EQ(Dur("24h"), 24 * kHour);
  EXPECT_EQ(Dur("30d"), 30 * 24 * kHour);
  EXPECT_EQ(Dur("2w"), 14 * 24 * kHour);
  EXPECT_EQ(Dur("0ms"), 0);
}

TEST(DurationTest, AcceptsTheLargestThatFits) {
  EXPECT_EQ(Dur("9223372036854775807ms"), INT64_MAX);
  EXPECT_EQ(Dur("0009223372036854775807ms"), INT64_MAX);
  EXPECT_EQ(Dur("15250284452w"), 15250284452LL * 7 * 24 * kHour);
}

TEST(DurationTest, RejectsOverflow) {
  EXPECT_FALSE(ParseDurationMillis("9223372036854775808ms").ok());
  EXPECT_FALSE(ParseDurationMillis("9223372036854776s").ok());
  EXPECT_FALSE(ParseDurationMillis("15250284453w").ok());
  EXPECT_FALSE(ParseDurationMillis("99999999999999999999999h").ok());
}

TEST(DurationTest, RejectsFractionsSignsSpacesAndUnknownUnits) {
  for (const char* text :
       {"1.5h", "-1s", "+1s", "10", "10 s", " 10s", "10s ", "1y",    "1M",    "1S",
        "1H",   "s",   "",    "ms", "1sec", "1min", "1hh",  "1h30m", "0x10s", "1e3ms"}) {
    auto r = ParseDurationMillis(text);
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << text;
  }
}

TEST(DurationTest, ErrorNamesTheValue) {
  auto r = ParseDurationMillis("1.5h");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("\"1.5h\""), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace segflow
