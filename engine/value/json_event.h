// Decoding of input lines into Events (spec §1 and §9 "Parsing"), with simdjson.
//
// Decided where the spec is silent:
//  * Duplicate keys in an object, at any depth (role fields included), reject the line:
//    `duplicate field "x"`. No silent first- or last-wins.
//  * An empty user or event string is rejected, as is an integer user outside
//    int64/uint64; integer users are kept in canonical decimal (`-0` is user "0").
//  * Times must lie in years 0000-9999 UTC (kMinTimeMillis..kMaxTimeMillis), so every
//    event time can be written as RFC 3339 and stays far from the int64 limits.
//  * Integers that do not fit int64 become doubles; nesting deeper than 128 is rejected.
//  * Leading/trailing whitespace (a CR of a CRLF file included) is allowed.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/common/status.h"
#include "engine/value/event.h"

namespace segflow {

// Reusable decoder (holds simdjson's parser and buffers): one per thread.
class JsonEventDecoder {
 public:
  explicit JsonEventDecoder(RoleFields fields);
  ~JsonEventDecoder();
  // Decodes one line (without its newline). On failure returns InvalidArgument with the
  // reason only (e.g. "missing field \"user_id\""); the caller adds the line number.
  // `*out` is overwritten (its buffers reused); after a failure its contents are unspecified.
  Status Decode(std::string_view line, Event* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a strict JSON document (any type at the top) into a Value, with the same rules
// as event properties (duplicate keys rejected). Used for tests and job values.
Result<Value> ParseJsonValue(std::string_view text);

}  // namespace segflow
