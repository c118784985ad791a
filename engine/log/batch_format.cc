#include "engine/log/batch_format.h"

#include <cstring>

#include "engine/log/crc32c.h"

namespace segflow::log {
namespace {

template <typename T>
void Put(char* out, size_t at, T v) {
  std::memcpy(out + at, &v, sizeof(T));  // little-endian host (x86-64, aarch64)
}

template <typename T>
T Get(const char* in, size_t at) {
  T v;
  std::memcpy(&v, in + at, sizeof(T));
  return v;
}

}  // namespace

void EncodeBatchHeader(const BatchHeader& h, char* out) {
  Put<uint32_t>(out, 0, kBatchMagic);
  Put<uint64_t>(out, 8, h.base_offset);
  Put<int64_t>(out, 16, h.max_ts);
  Put<uint32_t>(out, 24, h.record_count);
  Put<uint32_t>(out, 28, h.payload_bytes);
  Put<uint32_t>(out, 32, h.payload_crc);
  Put<uint32_t>(out, 36, 0);
  Put<uint32_t>(out, 4, Crc32c(out + 8, kBatchHeaderBytes - 8));
}

bool DecodeBatchHeader(const char* in, BatchHeader* h) {
  if (Get<uint32_t>(in, 0) != kBatchMagic) return false;
  if (Get<uint32_t>(in, 4) != Crc32c(in + 8, kBatchHeaderBytes - 8)) return false;
  h->base_offset = Get<uint64_t>(in, 8);
  h->max_ts = Get<int64_t>(in, 16);
  h->record_count = Get<uint32_t>(in, 24);
  h->payload_bytes = Get<uint32_t>(in, 28);
  h->payload_crc = Get<uint32_t>(in, 32);
  const uint32_t flags = Get<uint32_t>(in, 36);
  return flags == 0 && h->record_count > 0 && h->payload_bytes % 8 == 0 && h->payload_bytes > 0 &&
         h->payload_bytes <= kMaxBatchPayloadBytes;
}

BatchState InspectBatch(const char* data, size_t avail, BatchHeader* h, std::string* problem) {
  if (avail < kBatchHeaderBytes) return BatchState::kIncomplete;
  if (!DecodeBatchHeader(data, h)) {
    *problem = "bad batch header";
    return BatchState::kBadHeader;
  }
  if (avail < h->total_bytes()) return BatchState::kIncomplete;
  if (Crc32c(data + kBatchHeaderBytes, h->payload_bytes) != h->payload_crc) {
    *problem = "batch payload CRC mismatch (batch at offset " + std::to_string(h->base_offset) + ")";
    return BatchState::kBadPayload;
  }
  return BatchState::kValid;
}

BatchHeader AppendBatch(capnp::MessageBuilder& message, uint64_t base_offset, uint32_t record_count,
                        int64_t max_ts, std::string* out) {
  auto segments = message.getSegmentsForOutput();
  // Flat-array form: u32 (segments - 1), u32 size of each segment, padded to a word.
  const size_t table_words = (segments.size() + 2) / 2;
  size_t payload = table_words * 8;
  for (auto s : segments) payload += s.size() * sizeof(capnp::word);

  const size_t start = out->size();
  out->resize(start + kBatchHeaderBytes + payload);
  char* p = out->data() + start + kBatchHeaderBytes;
  std::memset(p, 0, table_words * 8);
  Put<uint32_t>(p, 0, static_cast<uint32_t>(segments.size() - 1));
  for (size_t i = 0; i < segments.size(); ++i) {
    Put<uint32_t>(p, 4 * (i + 1), static_cast<uint32_t>(segments[i].size()));
  }
  size_t at = table_words * 8;
  for (auto s : segments) {
    std::memcpy(p + at, s.begin(), s.size() * sizeof(capnp::word));
    at += s.size() * sizeof(capnp::word);
  }

  BatchHeader h;
  h.base_offset = base_offset;
  h.max_ts = max_ts;
  h.record_count = record_count;
  h.payload_bytes = static_cast<uint32_t>(payload);
  h.payload_crc = Crc32c(p, payload);
  EncodeBatchHeader(h, out->data() + start);
  return h;
}

}  // namespace segflow::log
