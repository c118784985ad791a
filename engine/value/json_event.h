// Decoding of input lines into Events (spec §1 and §9 "Parsing"), with simdjson.
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
  Status Decode(std::string_view line, Event* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a strict JSON document into a Value (used for tests and job values).
Result<Value> ParseJsonValue(std::string_view text);

}  // namespace segflow
