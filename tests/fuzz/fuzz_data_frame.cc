// Fuzzes the data plane's frame decoding (operators/runtime/wire_codec): a frame body as
// Receive hands it over, decoded as a keyed task's input and as the sink's input, which
// deserializes each record's projected event (SegmentProgram::DeserializeEvent).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/common/owned_message.h"
#include "operators/runtime/wire_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<capnp::word> words(size / sizeof(capnp::word));
  if (!words.empty()) std::memcpy(words.data(), data, words.size() * sizeof(capnp::word));
  try {
    segflow::OwnedMessage message(std::move(words));
    auto frame = message.Root<segflow::wire::DataFrame>();
    segflow::KeyedInput keyed;
    (void)segflow::DecodeKeyedInput(frame, &keyed);
    segflow::SinkMessage sink;
    (void)segflow::DecodeSinkMessage(frame, &sink);
  } catch (const kj::Exception&) {
    // Malformed: the worker's receive loop catches this and fails the connection.
  }
  return 0;
}
