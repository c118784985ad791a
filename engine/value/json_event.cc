#include "engine/value/json_event.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "engine/value/time_format.h"

namespace segflow {
namespace {

namespace od = simdjson::ondemand;

// Nesting beyond this is refused, so conversion never recurses deeply.
constexpr int kMaxDepth = 128;
// Objects up to this size are checked for duplicate keys pairwise; larger ones by sorting.
constexpr size_t kLinearDuplicateCheck = 16;

Status InvalidJson(simdjson::error_code e) {
  return Status::InvalidArgument(std::string("invalid JSON: ") + simdjson::error_message(e));
}

Status DuplicateField(std::string_view key) {
  return Status::InvalidArgument("duplicate field \"" + std::string(key) + "\"");
}

const char* TypeName(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "array";
    case od::json_type::object:
      return "object";
    case od::json_type::number:
      return "number";
    case od::json_type::string:
      return "string";
    case od::json_type::boolean:
      return "boolean";
    case od::json_type::null:
      return "null";
  }
  return "unknown";
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// True if `key` already occurs among the first `n` fields of `obj`.
bool HasKey(const ValueObject& obj, size_t n, std::string_view key) {
  for (size_t i = 0; i < n; ++i) {
    if (obj[i].first == key) return true;
  }
  return false;
}

// For objects larger than kLinearDuplicateCheck: the first duplicated key, if any.
const std::string* FindDuplicateKey(const ValueObject& obj) {
  std::vector<const std::string*> keys;
  keys.reserve(obj.size());
  for (const auto& kv : obj) keys.push_back(&kv.first);
  std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
  for (size_t i = 1; i < keys.size(); ++i) {
    if (*keys[i] == *keys[i - 1]) return keys[i];
  }
  return nullptr;
}

// JSON number → Value: integers that fit int64 stay exact, everything else is a double.
template <typename V>
Status ConvertNumber(V& v, Value* out) {
  od::number_type nt;
  if (auto e = v.get_number_type().get(nt)) return InvalidJson(e);
  if (nt == od::number_type::signed_integer) {
    int64_t i;
    if (!v.get_int64().get(i)) {
      *out = Value::Int(i);
      return Status::OK();
    }
  }
  double d;
  if (auto e = v.get_double().get(d)) return InvalidJson(e);
  *out = Value::Double(d);
  return Status::OK();
}

template <typename V>
Status ConvertValue(V& v, int depth, Value* out);

template <typename V>
Status ConvertObject(V& v, int depth, Value* out) {
  od::object obj;
  if (auto e = v.get_object().get(obj)) return InvalidJson(e);
  ValueObject fields;
  for (auto field_result : obj) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return InvalidJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return InvalidJson(e);
    Value child;
    SEGFLOW_RETURN_IF_ERROR(ConvertValue(field.value(), depth + 1, &child));
    if (fields.size() < kLinearDuplicateCheck && HasKey(fields, fields.size(), key)) {
      return DuplicateField(key);
    }
    fields.emplace_back(std::string(key), std::move(child));
  }
  if (fields.size() > kLinearDuplicateCheck) {
    if (const std::string* dup = FindDuplicateKey(fields)) return DuplicateField(*dup);
  }
  *out = Value::Object(std::move(fields));
  return Status::OK();
}

template <typename V>
Status ConvertArray(V& v, int depth, Value* out) {
  od::array arr;
  if (auto e = v.get_array().get(arr)) return InvalidJson(e);
  ValueArray elems;
  for (auto elem_result : arr) {
    od::value elem;
    if (auto e = std::move(elem_result).get(elem)) return InvalidJson(e);
    Value child;
    SEGFLOW_RETURN_IF_ERROR(ConvertValue(elem, depth + 1, &child));
    elems.push_back(std::move(child));
  }
  *out = Value::Array(std::move(elems));
  return Status::OK();
}

// Works for od::value and for a scalar or container od::document (same getters).
template <typename V>
Status ConvertValue(V& v, int depth, Value* out) {
  if (depth > kMaxDepth) {
    return Status::InvalidArgument("invalid JSON: nested deeper than " + std::to_string(kMaxDepth));
  }
  od::json_type t;
  if (auto e = v.type().get(t)) return InvalidJson(e);
  switch (t) {
    case od::json_type::object:
      return ConvertObject(v, depth, out);
    case od::json_type::array:
      return ConvertArray(v, depth, out);
    case od::json_type::number:
      return ConvertNumber(v, out);
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return InvalidJson(e);
      *out = Value::String(std::string(s));
      return Status::OK();
    }
    case od::json_type::boolean: {
      bool b;
      if (auto e = v.get_bool().get(b)) return InvalidJson(e);
      *out = Value::Bool(b);
      return Status::OK();
    }
    case od::json_type::null: {
      bool is_null;
      if (auto e = v.is_null().get(is_null)) return InvalidJson(e);
      if (!is_null) return InvalidJson(simdjson::N_ATOM_ERROR);
      *out = Value::Null();
      return Status::OK();
    }
  }
  return InvalidJson(simdjson::INCORRECT_TYPE);
}

// True once the whole document has been consumed (nothing but whitespace follows).
bool AtEnd(od::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

Status RoleTypeError(const std::string& field, const char* expected, const char* got) {
  return Status::InvalidArgument("field \"" + field + "\": expected " + expected + ", got " + got);
}

// A JSON number's kind for messages: "integer" or "float".
const char* NumberKind(od::value& v) {
  od::number_type nt;
  if (v.get_number_type().get(nt)) return "invalid number";
  return nt == od::number_type::floating_point_number ? "float" : "integer";
}

}  // namespace

struct JsonEventDecoder::Impl {
  RoleFields fields;
  od::parser parser;
  std::unique_ptr<char[]> buf;  // the line, copied with SIMDJSON_PADDING bytes after it
  size_t capacity = 0;

  Status DecodeUser(od::value& v, Event* out);
  Status DecodeType(od::value& v, Event* out);
  Status DecodeTime(od::value& v, Event* out);
  Status Decode(std::string_view line, Event* out);
};

Status JsonEventDecoder::Impl::DecodeUser(od::value& v, Event* out) {
  static constexpr const char* kExpected = "string or integer";
  od::json_type t;
  if (auto e = v.type().get(t)) return InvalidJson(e);
  if (t == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return InvalidJson(e);
    if (s.empty()) return RoleTypeError(fields.user, "a non-empty string or integer", "\"\"");
    out->user.assign(s);
    return Status::OK();
  }
  if (t != od::json_type::number) return RoleTypeError(fields.user, kExpected, TypeName(t));
  od::number_type nt;
  if (auto e = v.get_number_type().get(nt)) return InvalidJson(e);
  if (nt == od::number_type::floating_point_number) {
    return RoleTypeError(fields.user, kExpected, "float");
  }
  // Canonical decimal form, so 7, -0 and "7" / "0" name the same users.
  if (nt == od::number_type::signed_integer) {
    int64_t i;
    if (v.get_int64().get(i) == simdjson::SUCCESS) {
      out->user = std::to_string(i);
      return Status::OK();
    }
  } else {
    uint64_t u;
    if (v.get_uint64().get(u) == simdjson::SUCCESS) {
      out->user = std::to_string(u);
      return Status::OK();
    }
  }
  return Status::InvalidArgument("field \"" + fields.user + "\": integer out of range");
}

Status JsonEventDecoder::Impl::DecodeType(od::value& v, Event* out) {
  od::json_type t;
  if (auto e = v.type().get(t)) return InvalidJson(e);
  if (t != od::json_type::string) {
    return RoleTypeError(fields.event, "string",
                         t == od::json_type::number ? NumberKind(v) : TypeName(t));
  }
  std::string_view s;
  if (auto e = v.get_string().get(s)) return InvalidJson(e);
  if (s.empty()) return RoleTypeError(fields.event, "a non-empty string", "\"\"");
  out->type.assign(s);
  return Status::OK();
}

Status JsonEventDecoder::Impl::DecodeTime(od::value& v, Event* out) {
  static constexpr const char* kExpected = "integer epoch milliseconds or RFC 3339 string";
  od::json_type t;
  if (auto e = v.type().get(t)) return InvalidJson(e);
  if (t == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return InvalidJson(e);
    auto ms = ParseRfc3339Millis(s);
    if (!ms.ok()) return ms.status().Annotate("field \"" + fields.time + "\"");
    out->ts = *ms;
    return Status::OK();
  }
  if (t != od::json_type::number) return RoleTypeError(fields.time, kExpected, TypeName(t));
  od::number_type nt;
  if (auto e = v.get_number_type().get(nt)) return InvalidJson(e);
  if (nt == od::number_type::floating_point_number) {
    return RoleTypeError(fields.time, kExpected, "float");
  }
  int64_t ms = 0;
  if (nt != od::number_type::signed_integer || v.get_int64().get(ms) != simdjson::SUCCESS ||
      ms < kMinTimeMillis || ms > kMaxTimeMillis) {
    return Status::InvalidArgument("field \"" + fields.time +
                                   "\": epoch milliseconds out of range (years 0000-9999 UTC)");
  }
  out->ts = ms;
  return Status::OK();
}

Status JsonEventDecoder::Impl::Decode(std::string_view line, Event* out) {
  if (IsBlank(line)) return Status::InvalidArgument("blank line");
  const size_t need = line.size() + simdjson::SIMDJSON_PADDING;
  if (need > capacity) {
    capacity = std::max(need, capacity * 2);
    buf = std::make_unique<char[]>(capacity);
  }
  std::memcpy(buf.get(), line.data(), line.size());
  std::memset(buf.get() + line.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  if (auto e = parser.iterate(buf.get(), line.size(), capacity).get(doc)) return InvalidJson(e);
  od::json_type t;
  if (auto e = doc.type().get(t)) return InvalidJson(e);
  if (t != od::json_type::object) return Status::InvalidArgument("not a JSON object");
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return InvalidJson(e);

  if (!out->props.is_object()) out->props = Value::Object({});
  ValueObject& props = out->props.mutable_object();
  props.clear();
  bool have_user = false, have_type = false, have_time = false;
  for (auto field_result : obj) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return InvalidJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return InvalidJson(e);
    od::value& v = field.value();
    // Role names may coincide (a misconfigured source): the first role listed wins.
    bool* seen = nullptr;
    if (key == fields.user) {
      seen = &have_user;
    } else if (key == fields.event) {
      seen = &have_type;
    } else if (key == fields.time) {
      seen = &have_time;
    }
    if (seen != nullptr) {
      if (*seen) return DuplicateField(key);
      *seen = true;
      if (seen == &have_user) {
        SEGFLOW_RETURN_IF_ERROR(DecodeUser(v, out));
      } else if (seen == &have_type) {
        SEGFLOW_RETURN_IF_ERROR(DecodeType(v, out));
      } else {
        SEGFLOW_RETURN_IF_ERROR(DecodeTime(v, out));
      }
      continue;
    }
    Value prop;
    SEGFLOW_RETURN_IF_ERROR(ConvertValue(v, 1, &prop));
    if (props.size() < kLinearDuplicateCheck && HasKey(props, props.size(), key)) {
      return DuplicateField(key);
    }
    props.emplace_back(std::string(key), std::move(prop));
  }
  if (props.size() > kLinearDuplicateCheck) {
    if (const std::string* dup = FindDuplicateKey(props)) return DuplicateField(*dup);
  }
  if (!AtEnd(doc))
    return Status::InvalidArgument("invalid JSON: trailing content after the object");
  if (!have_user) return Status::InvalidArgument("missing field \"" + fields.user + "\"");
  if (!have_type) return Status::InvalidArgument("missing field \"" + fields.event + "\"");
  if (!have_time) return Status::InvalidArgument("missing field \"" + fields.time + "\"");
  return Status::OK();
}

JsonEventDecoder::JsonEventDecoder(RoleFields fields) : impl_(std::make_unique<Impl>()) {
  impl_->fields = std::move(fields);
}

JsonEventDecoder::~JsonEventDecoder() = default;

Status JsonEventDecoder::Decode(std::string_view line, Event* out) {
  return impl_->Decode(line, out);
}

Result<Value> ParseJsonValue(std::string_view text) {
  if (IsBlank(text)) return Status::InvalidArgument("invalid JSON: empty document");
  simdjson::padded_string padded(text);
  od::parser parser;
  od::document doc;
  if (auto e = parser.iterate(padded).get(doc)) return InvalidJson(e);
  Value v;
  SEGFLOW_RETURN_IF_ERROR(ConvertValue(doc, 0, &v));
  if (!AtEnd(doc)) return Status::InvalidArgument("invalid JSON: trailing content");
  return v;
}

}  // namespace segflow
