#include "operators/segment/byte_codec.h"

#include <bit>
#include <cstring>
#include <utility>

namespace segflow {
namespace {

enum ValueTag : uint8_t { kNull = 0, kFalse, kTrue, kInt, kDouble, kString, kArray, kObject };

}  // namespace

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutSignedVarint(int64_t v, std::string* out) {
  const uint64_t u = static_cast<uint64_t>(v);
  PutVarint((u << 1) ^ (v < 0 ? ~uint64_t{0} : 0), out);
}

void PutDouble(double d, std::string* out) {
  uint64_t bits = std::bit_cast<uint64_t>(d);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

void PutBytes(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

void PutValue(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      out->push_back(kNull);
      return;
    case Value::Kind::kBool:
      out->push_back(v.as_bool() ? kTrue : kFalse);
      return;
    case Value::Kind::kInt:
      out->push_back(kInt);
      PutSignedVarint(v.as_int(), out);
      return;
    case Value::Kind::kDouble:
      out->push_back(kDouble);
      PutDouble(v.as_double(), out);
      return;
    case Value::Kind::kString:
      out->push_back(kString);
      PutBytes(v.as_string(), out);
      return;
    case Value::Kind::kArray:
      out->push_back(kArray);
      PutVarint(v.as_array().size(), out);
      for (const Value& item : v.as_array()) PutValue(item, out);
      return;
    case Value::Kind::kObject:
      out->push_back(kObject);
      PutVarint(v.as_object().size(), out);
      for (const auto& [name, item] : v.as_object()) {
        PutBytes(name, out);
        PutValue(item, out);
      }
      return;
  }
}

bool ByteReader::GetVarintSlow(uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!GetByte(&b)) return false;
    if (shift == 63 && b > 1) return false;  // more than 64 bits
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool ByteReader::GetSignedVarint(int64_t* out) {
  uint64_t u;
  if (!GetVarint(&u)) return false;
  *out = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool ByteReader::GetDouble(double* out) {
  if (data_.size() < 8) return false;
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(data_[i])) << (8 * i);
  data_.remove_prefix(8);
  *out = std::bit_cast<double>(bits);
  return true;
}

bool ByteReader::GetBytes(std::string* out) {
  size_t n;
  if (!GetCount(1, &n)) return false;
  out->assign(data_.data(), n);
  data_.remove_prefix(n);
  return true;
}

bool ByteReader::GetCount(size_t min_item_bytes, size_t* out) {
  uint64_t n;
  if (!GetVarint(&n)) return false;
  if (min_item_bytes > 0 && n > data_.size() / min_item_bytes) return false;
  if (min_item_bytes == 0 && n > data_.size() + (uint64_t{1} << 20)) return false;
  *out = static_cast<size_t>(n);
  return true;
}

bool ByteReader::GetValue(Value* out, int depth) {
  if (depth > kMaxValueDepth) return false;
  uint8_t tag;
  if (!GetByte(&tag)) return false;
  switch (tag) {
    case kNull:
      *out = Value::Null();
      return true;
    case kFalse:
    case kTrue:
      *out = Value::Bool(tag == kTrue);
      return true;
    case kInt: {
      int64_t i;
      if (!GetSignedVarint(&i)) return false;
      *out = Value::Int(i);
      return true;
    }
    case kDouble: {
      double d;
      if (!GetDouble(&d)) return false;
      *out = Value::Double(d);
      return true;
    }
    case kString: {
      std::string s;
      if (!GetBytes(&s)) return false;
      *out = Value::String(std::move(s));
      return true;
    }
    case kArray: {
      size_t n;
      if (!GetCount(1, &n)) return false;
      ValueArray items(n);
      for (Value& item : items) {
        if (!GetValue(&item, depth + 1)) return false;
      }
      *out = Value::Array(std::move(items));
      return true;
    }
    case kObject: {
      size_t n;
      if (!GetCount(2, &n)) return false;
      ValueObject fields(n);
      for (auto& [name, item] : fields) {
        if (!GetBytes(&name) || !GetValue(&item, depth + 1)) return false;
      }
      *out = Value::Object(std::move(fields));
      return true;
    }
    default:
      return false;
  }
}

}  // namespace segflow
