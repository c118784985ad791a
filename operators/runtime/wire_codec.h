// The data plane's encoding of what flows between tasks (messages.h) as Cap'n Proto
// DataFrames (engine/schema/cluster.capnp): one frame per channel element.
#pragma once

#include <capnp/message.h>

#include "engine/common/status.h"
#include "engine/schema/cluster.capnp.h"
#include "operators/runtime/messages.h"

namespace segflow {

void EncodeKeyedInput(const KeyedInput& in, wire::DataFrame::Builder out);
Status DecodeKeyedInput(wire::DataFrame::Reader in, KeyedInput* out);

void EncodeSinkMessage(const SinkMessage& in, wire::DataFrame::Builder out);
Status DecodeSinkMessage(wire::DataFrame::Reader in, SinkMessage* out);

// End-of-stream markers: a connection closes once every producer on it sent one.
inline bool IsEnd(const KeyedInput& in) { return std::holds_alternative<SourceEnd>(in); }
inline bool IsEnd(const SinkMessage& in) { return std::holds_alternative<KeyedEnd>(in.body); }

}  // namespace segflow
