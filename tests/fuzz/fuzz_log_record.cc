// Fuzzes the record and value decoders (engine/log/record_codec) on one Cap'n Proto
// message in flat form, read with the log reader's limits.
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/log/record_codec.h"
#include "engine/schema/record.capnp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool as_value = data[0] & 1;
  std::vector<capnp::word> words((size - 1) / sizeof(capnp::word));
  if (!words.empty()) std::memcpy(words.data(), data + 1, words.size() * sizeof(capnp::word));
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words.size() * 4 + 1024;
  options.nestingLimit = segflow::log::kRecordNestingLimit;
  try {
    capnp::FlatArrayMessageReader message(kj::arrayPtr(words.data(), words.size()), options);
    if (as_value) {
      segflow::Value value;
      (void)segflow::log::DecodeValue(message.getRoot<segflow::schema::Value>(), &value);
    } else {
      segflow::Event event;
      (void)segflow::log::DecodeRecord(message.getRoot<segflow::schema::Record>(), &event);
    }
  } catch (const kj::Exception&) {
    // The segment table does not check: the readers report this as Corruption.
  }
  return 0;
}
