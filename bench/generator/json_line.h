// JsonLine: builds one event as a compact JSON object, fast (no intermediate Value).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace segflow::gen {

class JsonLine {
 public:
  // Starts `{"user_id":USER,"event":TYPE,"ts":` + the time, as epoch ms or (rfc3339)
  // as an RFC 3339 string, in UTC or, with a non-zero offset, in that local time.
  void Start(std::string_view user, std::string_view type, int64_t ts, bool rfc3339,
             int offset_minutes);
  JsonLine& Str(std::string_view key, std::string_view value);
  // An identifier string: `prefix` followed by the decimal `number` ("t42").
  JsonLine& Id(std::string_view key, std::string_view prefix, uint64_t number);
  JsonLine& Int(std::string_view key, int64_t value);
  // A decimal with two places ("12.50"): a JSON float, never an integer.
  JsonLine& Cents(std::string_view key, int64_t cents);
  JsonLine& Bool(std::string_view key, bool value);
  // Closes the object; text() is then one complete line (without newline).
  void Finish() { text_.push_back('}'); }
  std::string& text() { return text_; }

 private:
  void Key(std::string_view key);
  void Quoted(std::string_view s);
  void AppendInt(int64_t v);
  std::string text_;
};

}  // namespace segflow::gen
