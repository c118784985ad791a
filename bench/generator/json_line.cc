#include "bench/generator/json_line.h"

#include <charconv>
#include <cstdlib>

#include "engine/value/time_format.h"
#include "engine/value/value.h"

namespace segflow::gen {

void JsonLine::Start(std::string_view user, std::string_view type, int64_t ts, bool rfc3339,
                     int offset_minutes) {
  text_.clear();
  text_.append("{\"user_id\":");
  Quoted(user);
  text_.append(",\"event\":");
  Quoted(type);
  text_.append(",\"ts\":");
  if (!rfc3339) {
    AppendInt(ts);
    return;
  }
  std::string local = FormatRfc3339Millis(ts + int64_t{offset_minutes} * 60000);
  if (offset_minutes != 0) {
    const int m = std::abs(offset_minutes);
    char suffix[8] = {offset_minutes < 0 ? '-' : '+',
                      static_cast<char>('0' + m / 600),
                      static_cast<char>('0' + m / 60 % 10),
                      ':',
                      static_cast<char>('0' + m % 60 / 10),
                      static_cast<char>('0' + m % 10),
                      0};
    local.pop_back();  // the 'Z'
    local.append(suffix);
  }
  Quoted(local);
}

JsonLine& JsonLine::Str(std::string_view key, std::string_view value) {
  Key(key);
  Quoted(value);
  return *this;
}

JsonLine& JsonLine::Id(std::string_view key, std::string_view prefix, uint64_t number) {
  Key(key);
  Quoted(prefix);
  text_.pop_back();  // reopen the literal after the prefix
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), number);
  text_.append(buf, r.ptr);
  text_.push_back('"');
  return *this;
}

JsonLine& JsonLine::Int(std::string_view key, int64_t value) {
  Key(key);
  AppendInt(value);
  return *this;
}

JsonLine& JsonLine::Cents(std::string_view key, int64_t cents) {
  Key(key);
  if (cents < 0) {
    text_.push_back('-');
    cents = -cents;
  }
  AppendInt(cents / 100);
  text_.push_back('.');
  text_.push_back(static_cast<char>('0' + cents % 100 / 10));
  text_.push_back(static_cast<char>('0' + cents % 10));
  return *this;
}

JsonLine& JsonLine::Bool(std::string_view key, bool value) {
  Key(key);
  text_.append(value ? "true" : "false");
  return *this;
}

void JsonLine::Key(std::string_view key) {
  text_.push_back(',');
  Quoted(key);
  text_.push_back(':');
}

void JsonLine::Quoted(std::string_view s) {
  // The vocabulary never needs escaping; take the fast path when that holds.
  for (unsigned char c : s) {
    if (c < 0x20 || c == '"' || c == '\\') {
      AppendJsonString(s, &text_);
      return;
    }
  }
  text_.push_back('"');
  text_.append(s);
  text_.push_back('"');
}

void JsonLine::AppendInt(int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  text_.append(buf, r.ptr);
}

}  // namespace segflow::gen
