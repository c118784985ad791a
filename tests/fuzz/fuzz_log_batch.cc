// Fuzzes the log's batch reading (engine/log/batch_format, record_codec): the input is
// the bytes at a batch start, inspected as partition_reader does; and the same bytes as
// a batch payload behind a header whose CRCs check, decoded record by record with the
// reader's options, so the fuzzer is not stopped by the checksums.
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/log/batch_format.h"
#include "engine/log/crc32c.h"
#include "engine/log/record_codec.h"
#include "engine/schema/record.capnp.h"

namespace {

void DecodePayload(const std::string& batch) {
  using namespace segflow::log;
  BatchHeader h;
  std::string problem;
  if (InspectBatch(batch.data(), batch.size(), &h, &problem) != BatchState::kValid) return;
  std::vector<capnp::word> words(h.payload_bytes / sizeof(capnp::word));
  if (!words.empty()) std::memcpy(words.data(), batch.data() + kBatchHeaderBytes, h.payload_bytes);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words.size() * 4 + 1024;
  options.nestingLimit = kRecordNestingLimit;
  try {
    capnp::FlatArrayMessageReader message(kj::arrayPtr(words.data(), words.size()), options);
    auto root = message.getRoot<segflow::schema::RecordBatch>();
    auto records = root.getRecords();
    if (root.getBaseOffset() != h.base_offset || records.size() != h.record_count) return;
    for (unsigned i = 0; i < records.size(); ++i) {
      segflow::Event event;
      if (!DecodeRecord(records[i], &event).ok()) return;
    }
  } catch (const kj::Exception&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace segflow::log;
  const char* bytes = reinterpret_cast<const char*>(data);
  DecodePayload(std::string(bytes, size));  // as found on disk

  // The same bytes as a payload (padded to words) behind a header that checks; the
  // header's base offset and count come from the payload's own root when it has one.
  std::string payload(bytes, size);
  payload.resize((payload.size() + 7) / 8 * 8, '\0');
  BatchHeader h;
  h.payload_bytes = static_cast<uint32_t>(payload.size());
  h.payload_crc = Crc32c(payload.data(), payload.size());
  h.record_count = size >= 4 ? static_cast<uint32_t>(data[0] % 8) : 0;
  try {
    std::vector<capnp::word> words(payload.size() / 8);
    if (!words.empty()) std::memcpy(words.data(), payload.data(), payload.size());
    capnp::FlatArrayMessageReader message(kj::arrayPtr(words.data(), words.size()));
    auto root = message.getRoot<segflow::schema::RecordBatch>();
    h.base_offset = root.getBaseOffset();
    h.record_count = root.getRecords().size();
  } catch (const kj::Exception&) {
  }
  std::string batch(kBatchHeaderBytes, '\0');
  EncodeBatchHeader(h, batch.data());
  DecodePayload(batch + payload);
  return 0;
}
