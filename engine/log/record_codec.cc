#include "engine/log/record_codec.h"

#include <kj/exception.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

namespace segflow::log {
namespace {

kj::StringPtr Text(const std::string& s) { return kj::StringPtr(s.c_str(), s.size()); }

size_t WordsForBytes(size_t n) { return (n + 7) / 8; }

void EncodeFields(const ValueObject& fields, capnp::List<schema::Field>::Builder out) {
  for (size_t i = 0; i < fields.size(); ++i) {
    auto f = out[static_cast<unsigned>(i)];
    f.setName(Text(fields[i].first));
    EncodeValue(fields[i].second, f.initValue());
  }
}

// Throws kj::Exception on a malformed message; the public functions catch it.
Value DecodeValueUnchecked(schema::Value::Reader in, bool* unknown);

ValueObject DecodeFields(capnp::List<schema::Field>::Reader in, bool* unknown) {
  ValueObject fields;
  fields.reserve(in.size());
  for (auto f : in) {
    auto name = f.getName();
    fields.emplace_back(std::string(name.begin(), name.size()), DecodeValueUnchecked(f.getValue(), unknown));
  }
  return fields;
}

Value DecodeValueUnchecked(schema::Value::Reader in, bool* unknown) {
  switch (in.which()) {
    case schema::Value::NULL_: return Value::Null();
    case schema::Value::BOOL: return Value::Bool(in.getBool());
    case schema::Value::INT: return Value::Int(in.getInt());
    case schema::Value::FLOAT: return Value::Double(in.getFloat());
    case schema::Value::TEXT: {
      auto t = in.getText();
      return Value::String(std::string(t.begin(), t.size()));
    }
    case schema::Value::ARRAY: {
      auto list = in.getArray();
      ValueArray items;
      items.reserve(list.size());
      for (auto v : list) items.push_back(DecodeValueUnchecked(v, unknown));
      return Value::Array(std::move(items));
    }
    case schema::Value::OBJECT: return Value::Object(DecodeFields(in.getObject(), unknown));
  }
  *unknown = true;  // a union member from a newer schema
  return Value::Null();
}

size_t EstimateValueBytes(const Value& v) {
  // A Value struct is 2 data words + 1 pointer; strings and lists add their payload.
  constexpr size_t kValueStruct = 24;
  switch (v.kind()) {
    case Value::Kind::kString: return kValueStruct + 8 * WordsForBytes(v.as_string().size() + 1);
    case Value::Kind::kArray: {
      size_t n = kValueStruct + 8;
      for (const auto& e : v.as_array()) n += EstimateValueBytes(e);
      return n;
    }
    case Value::Kind::kObject: {
      size_t n = kValueStruct + 8;
      for (const auto& [k, e] : v.as_object()) n += 16 + 8 * WordsForBytes(k.size() + 1) + EstimateValueBytes(e);
      return n;
    }
    default: return kValueStruct;
  }
}

}  // namespace

void EncodeValue(const Value& value, schema::Value::Builder out) {
  switch (value.kind()) {
    case Value::Kind::kNull: out.setNull(); break;
    case Value::Kind::kBool: out.setBool(value.as_bool()); break;
    case Value::Kind::kInt: out.setInt(value.as_int()); break;
    case Value::Kind::kDouble: out.setFloat(value.as_double()); break;
    case Value::Kind::kString: out.setText(Text(value.as_string())); break;
    case Value::Kind::kArray: {
      const auto& items = value.as_array();
      auto list = out.initArray(static_cast<unsigned>(items.size()));
      for (size_t i = 0; i < items.size(); ++i) EncodeValue(items[i], list[static_cast<unsigned>(i)]);
      break;
    }
    case Value::Kind::kObject: {
      const auto& fields = value.as_object();
      EncodeFields(fields, out.initObject(static_cast<unsigned>(fields.size())));
      break;
    }
  }
}

void EncodeRecord(const Event& event, schema::Record::Builder out) {
  out.setTs(event.ts);
  out.setKey(Text(event.user));
  out.setEvent(Text(event.type));
  if (event.props.is_object()) {
    const auto& fields = event.props.as_object();
    EncodeFields(fields, out.initProps(static_cast<unsigned>(fields.size())));
  }
}

Status DecodeValue(schema::Value::Reader in, Value* out) {
  bool unknown = false;
  try {
    *out = DecodeValueUnchecked(in, &unknown);
  } catch (const kj::Exception& e) {
    return Status::Corruption(std::string("malformed value: ") + e.getDescription().cStr());
  }
  if (unknown) return Status::Corruption("value of an unknown kind (written by a newer version?)");
  return Status::OK();
}

namespace {

// ts, user and event type: what every decode of a record reads (may throw kj::Exception).
void DecodeHeader(schema::Record::Reader in, Event* out) {
  out->ts = in.getTs();
  auto key = in.getKey();
  out->user.assign(key.begin(), key.size());
  auto type = in.getEvent();
  out->type.assign(type.begin(), type.size());
}

}  // namespace

Status DecodeRecord(schema::Record::Reader in, Event* out) {
  bool unknown = false;
  try {
    DecodeHeader(in, out);
    out->props = Value::Object(DecodeFields(in.getProps(), &unknown));
  } catch (const kj::Exception& e) {
    return Status::Corruption(std::string("malformed record: ") + e.getDescription().cStr());
  }
  if (unknown) return Status::Corruption("value of an unknown kind (written by a newer version?)");
  return Status::OK();
}

Status DecodeRecordProjected(schema::Record::Reader in, const PropsProjection& projection,
                             Event* out) {
  bool unknown = false;
  try {
    DecodeHeader(in, out);
    if (!out->props.is_object()) out->props = Value::Object({});
    ValueObject& fields = out->props.mutable_object();
    fields.clear();
    const std::vector<std::string>& names = projection.NamesFor(out->type);
    if (!names.empty()) {
      for (auto f : in.getProps()) {
        auto name = f.getName();
        const std::string_view n(name.begin(), name.size());
        if (std::find(names.begin(), names.end(), n) == names.end()) continue;
        fields.emplace_back(std::string(n), DecodeValueUnchecked(f.getValue(), &unknown));
      }
    }
  } catch (const kj::Exception& e) {
    return Status::Corruption(std::string("malformed record: ") + e.getDescription().cStr());
  }
  if (unknown) return Status::Corruption("value of an unknown kind (written by a newer version?)");
  return Status::OK();
}

size_t EstimateEncodedBytes(const Event& event) {
  // Record: 1 data word + 3 pointers; the props list pointer target; each field 2 pointers.
  size_t n = 32 + 8 * WordsForBytes(event.user.size() + 1) + 8 * WordsForBytes(event.type.size() + 1) + 8;
  if (event.props.is_object()) {
    for (const auto& [k, v] : event.props.as_object()) {
      n += 16 + 8 * WordsForBytes(k.size() + 1) + EstimateValueBytes(v);
    }
  }
  return n;
}

}  // namespace segflow::log
