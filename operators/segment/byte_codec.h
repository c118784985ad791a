// Compact binary encoding for segment state: varints, doubles, strings and Values.
// ByteReader never reads past its input: every getter returns false on truncated or
// malformed data, so callers turn that into Corruption.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/value/value.h"

namespace segflow {

void PutVarint(uint64_t v, std::string* out);
void PutSignedVarint(int64_t v, std::string* out);  // zigzag
void PutDouble(double d, std::string* out);         // 8 bytes, little-endian bit pattern
void PutBytes(std::string_view s, std::string* out);  // length-prefixed
void PutValue(const Value& v, std::string* out);

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  bool GetByte(uint8_t* out) {
    if (data_.empty()) return false;
    *out = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool GetVarint(uint64_t* out) {
    // Inline for the common one-byte value (lengths, counts, small numbers).
    if (!data_.empty() && static_cast<uint8_t>(data_[0]) < 0x80) {
      *out = static_cast<uint8_t>(data_[0]);
      data_.remove_prefix(1);
      return true;
    }
    return GetVarintSlow(out);
  }
  bool GetSignedVarint(int64_t* out);
  bool GetDouble(double* out);
  bool GetBytes(std::string* out);
  // Values nest at most kMaxValueDepth levels (deeper input is refused, not recursed into).
  bool GetValue(Value* out) { return GetValue(out, 0); }
  // A count of items each taking at least `min_item_bytes` bytes: refuses counts the
  // remaining input cannot hold, so corrupt counts never drive huge allocations.
  bool GetCount(size_t min_item_bytes, size_t* out);

  std::string_view remaining() const { return data_; }
  bool empty() const { return data_.empty(); }

  static constexpr int kMaxValueDepth = 1100;  // far above what the event decoder admits

 private:
  bool GetValue(Value* out, int depth);
  bool GetVarintSlow(uint64_t* out);
  std::string_view data_;
};

}  // namespace segflow
