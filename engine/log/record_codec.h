// Event <-> schema::Record and Value <-> schema::Value (engine/schema/record.capnp): the
// binary form of records in the log, so replays never re-parse JSON.
#pragma once

#include <cstddef>

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

// An upper-bound-ish estimate of EncodeRecord's size in bytes, for batching decisions.
size_t EstimateEncodedBytes(const Event& event);

// Nesting limit for readers of records: each JSON nesting level costs three capnp levels
// (list, element, value), so this admits documents nested 1100 deep (simdjson stops at 1024).
constexpr int kRecordNestingLimit = 3300;

}  // namespace segflow::log
