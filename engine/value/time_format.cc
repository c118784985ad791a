#include "engine/value/time_format.h"

#include <cstdio>
#include <limits>

namespace segflow {
namespace {

constexpr int64_t kMillisPerSecond = 1000;
constexpr int64_t kMillisPerDay = 86400 * kMillisPerSecond;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, int n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

Status BadTime(std::string_view text, const char* why) {
  return Status::InvalidArgument("invalid RFC 3339 time \"" + std::string(text) + "\": " + why);
}

// A non-empty run of decimal digits that fits int64; false on anything else or overflow.
bool ParseUnsigned(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    const int d = c - '0';
    if (v > (std::numeric_limits<int64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

Result<int64_t> ParseRfc3339Millis(std::string_view text) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &month) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &day)) {
    return BadTime(text, "expected a date YYYY-MM-DD");
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) {
    return BadTime(text, "expected 'T' between date and time");
  }
  ++pos;
  if (!ReadDigits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
      !ReadDigits(text, &pos, 2, &minute) || !Expect(text, &pos, ':') ||
      !ReadDigits(text, &pos, 2, &second)) {
    return BadTime(text, "expected a time HH:MM:SS");
  }
  if (month < 1 || month > 12) return BadTime(text, "month out of range");
  if (day < 1 || day > DaysInMonth(year, month)) return BadTime(text, "day out of range");
  if (hour > 23) return BadTime(text, "hour out of range");
  if (minute > 59) return BadTime(text, "minute out of range");
  if (second > 59) return BadTime(text, "second out of range (leap seconds are not accepted)");

  int64_t frac_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t start = pos;
    for (; pos < text.size() && IsDigit(text[pos]); ++pos) {
      if (pos - start < 3) frac_ms = frac_ms * 10 + (text[pos] - '0');
    }
    const size_t digits = pos - start;
    if (digits == 0) return BadTime(text, "expected digits after '.'");
    for (size_t i = digits; i < 3; ++i) frac_ms *= 10;
  }

  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    ++pos;
    int oh = 0, om = 0;
    if (!ReadDigits(text, &pos, 2, &oh) || !Expect(text, &pos, ':') ||
        !ReadDigits(text, &pos, 2, &om)) {
      return BadTime(text, "expected an offset +HH:MM or -HH:MM");
    }
    if (oh > 23 || om > 59) return BadTime(text, "offset out of range");
    offset_minutes = (negative ? -1 : 1) * (oh * 60 + om);
  } else {
    return BadTime(text, "expected an offset ('Z' or +HH:MM)");
  }
  if (pos != text.size()) return BadTime(text, "unexpected text after the offset");

  const int64_t days = DaysFromCivil(year, month, day);
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const int64_t millis = seconds * kMillisPerSecond + frac_ms;
  if (millis < kMinTimeMillis || millis > kMaxTimeMillis) {
    return BadTime(text, "out of range (years 0000-9999 UTC)");
  }
  return millis;
}

Result<int64_t> ParseTimeArg(std::string_view text) {
  std::string_view digits = text;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.remove_prefix(1);
  if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t v = 0;
    if (ParseUnsigned(digits, &v) && (negative ? -v : v) >= kMinTimeMillis &&
        (negative ? -v : v) <= kMaxTimeMillis) {
      return negative ? -v : v;
    }
    return Status::InvalidArgument("time \"" + std::string(text) +
                                   "\" is out of range (years 0000-9999 UTC)");
  }
  auto t = ParseRfc3339Millis(text);
  if (!t.ok()) {
    return t.status().Annotate("expected epoch milliseconds or RFC 3339 with an offset");
  }
  return t;
}

Result<int64_t> ParseDurationMillis(std::string_view text) {
  size_t n = 0;
  while (n < text.size() && IsDigit(text[n])) ++n;
  const std::string_view number = text.substr(0, n);
  const std::string_view unit = text.substr(n);
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("invalid duration \"" + std::string(text) + "\": " + why);
  };
  if (number.empty()) {
    return bad("expected a non-negative integer and a unit (ms, s, m, h, d, w), e.g. 30m");
  }
  int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = kMillisPerSecond;
  } else if (unit == "m") {
    scale = 60 * kMillisPerSecond;
  } else if (unit == "h") {
    scale = 3600 * kMillisPerSecond;
  } else if (unit == "d") {
    scale = kMillisPerDay;
  } else if (unit == "w") {
    scale = 7 * kMillisPerDay;
  } else {
    return bad("expected a unit ms, s, m, h, d or w after the integer");
  }
  int64_t v = 0;
  if (!ParseUnsigned(number, &v) || v > std::numeric_limits<int64_t>::max() / scale) {
    return bad("out of range");
  }
  return v * scale;
}

std::string FormatRfc3339Millis(int64_t millis) {
  int64_t days = millis / kMillisPerDay;
  int64_t rem = millis % kMillisPerDay;
  if (rem < 0) {
    rem += kMillisPerDay;
    --days;
  }
  int64_t y;
  int m, d;
  CivilFromDays(days, &y, &m, &d);
  const int64_t secs = rem / kMillisPerSecond;
  char buf[64];
  const int len = std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                static_cast<long long>(y), m, d, static_cast<int>(secs / 3600),
                                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60),
                                static_cast<int>(rem % kMillisPerSecond));
  return std::string(buf, len > 0 ? static_cast<size_t>(len) : 0);
}

}  // namespace segflow
