// Value: a JSON value as the segment language sees it (spec §4, §9).
// Integers are kept exactly (int64); `1` equals `1.0`; arrays and objects are kept
// but match only `exists` (and `ne`/`not_in`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace segflow {

class Value;
using ValueArray = std::vector<Value>;
// Object fields in document order; lookups are linear (events have few fields).
using ValueObject = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  Value() = default;  // null
  static Value Null() { return Value(); }
  static Value Bool(bool b) { Value v; v.v_ = b; return v; }
  static Value Int(int64_t i) { Value v; v.v_ = i; return v; }
  static Value Double(double d) { Value v; v.v_ = d; return v; }
  static Value String(std::string s) { Value v; v.v_ = std::move(s); return v; }
  static Value Array(ValueArray a) { Value v; v.v_ = std::move(a); return v; }
  static Value Object(ValueObject o) { Value v; v.v_ = std::move(o); return v; }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_double() const { return kind() == Kind::kDouble; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_scalar() const { return !is_array() && !is_object(); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_double() const { return std::get<double>(v_); }
  // Numeric value as double (int or double).
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : as_double(); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const ValueArray& as_array() const { return std::get<ValueArray>(v_); }
  const ValueObject& as_object() const { return std::get<ValueObject>(v_); }
  ValueObject& mutable_object() { return std::get<ValueObject>(v_); }

  // Field of an object by name; nullptr when absent or not an object.
  const Value* Find(std::string_view name) const;
  // Dotted path lookup ("device.os") through nested objects; nullptr when absent.
  const Value* FindPath(std::string_view dotted_path) const;

  // Compact JSON text (strings escaped; doubles with round-trip precision).
  std::string ToJson() const;
  void AppendJson(std::string* out) const;

  friend bool operator==(const Value& a, const Value& b);  // structural; 1 == 1.0

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, ValueArray, ValueObject> v_;
};

// Appends `s` as a JSON string literal (with quotes) to `out`.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace segflow
