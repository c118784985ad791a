// Event <-> schema::Record and Value <-> schema::Value (engine/schema/record.capnp): the
// binary form of records in the log, so replays never re-parse JSON.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/common/status.h"
#include "engine/schema/record.capnp.h"
#include "engine/value/event.h"
#include "engine/value/value.h"

namespace segflow::log {

void EncodeValue(const Value& value, schema::Value::Builder out);
void EncodeRecord(const Event& event, schema::Record::Builder out);

// Decoding reports a malformed message (a Cap'n Proto exception, an unknown union member)
// as Corruption; it never throws.
Status DecodeValue(schema::Value::Reader in, Value* out);
Status DecodeRecord(schema::Record::Reader in, Event* out);

// The top-level properties a consumer reads, per event type (a record of any other type:
// `other_types`). A dotted path's first name is its top-level property.
struct PropsProjection {
  std::unordered_map<std::string, std::vector<std::string>> by_type;
  std::vector<std::string> other_types;
  const std::vector<std::string>& NamesFor(const std::string& type) const {
    auto it = by_type.find(type);
    return it == by_type.end() ? other_types : it->second;
  }
};

// DecodeRecord keeping only the properties `projection` names for the record's type, each
// decoded whole, in document order, duplicates included: any path lookup under a kept name
// (Value::Find/FindPath) and any walk over kept names finds what it finds in the full
// record. Skipped properties are not read at all (an unknown value kind in one of them is
// not reported). Reuses `out`'s storage (strings, the props vector).
Status DecodeRecordProjected(schema::Record::Reader in, const PropsProjection& projection,
                             Event* out);

// An upper-bound-ish estimate of EncodeRecord's size in bytes, for batching decisions.
size_t EstimateEncodedBytes(const Event& event);

// Nesting limit for readers of records: each JSON nesting level costs three capnp levels
// (list, element, value), so this admits documents nested 1100 deep (simdjson stops at 1024).
constexpr int kRecordNestingLimit = 3300;

}  // namespace segflow::log
