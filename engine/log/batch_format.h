// On-disk batch format. A segment file is a sequence of batches, each starting at a
// multiple of 8 bytes:
//
//   0  u32 magic "SGB1"        8  u64 base offset      24 u32 record count
//   4  u32 header CRC32C       16 i64 max ts            28 u32 payload bytes (multiple of 8)
//      (of bytes 8..40)                                 32 u32 payload CRC32C   36 u32 flags (0)
//   40 payload: one Cap'n Proto message (schema::RecordBatch) in flat-array form.
//
// The header has its own CRC so a damaged length is never mistaken for a short write.
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace segflow::log {

constexpr uint32_t kBatchMagic = 0x31424753;  // "SGB1" little-endian
constexpr size_t kBatchHeaderBytes = 40;
constexpr uint32_t kMaxBatchPayloadBytes = 1u << 30;

struct BatchHeader {
  uint64_t base_offset = 0;
  int64_t max_ts = 0;
  uint32_t record_count = 0;
  uint32_t payload_bytes = 0;
  uint32_t payload_crc = 0;
  uint64_t total_bytes() const { return kBatchHeaderBytes + payload_bytes; }
};

void EncodeBatchHeader(const BatchHeader& h, char* out);
// False when the magic, the header CRC, a limit or the flags do not check.
bool DecodeBatchHeader(const char* in, BatchHeader* h);

// What the bytes at a batch start hold. kIncomplete: fewer bytes than the header says
// (or than a header); kBadHeader / kBadPayload: that part does not check.
enum class BatchState { kValid, kIncomplete, kBadHeader, kBadPayload };
// Inspects `avail` bytes at a batch start; fills `h` once the header checks.
BatchState InspectBatch(const char* data, size_t avail, BatchHeader* h, std::string* problem);

// Serializes `message` (a schema::RecordBatch whose baseOffset is already set) as one
// batch appended to `out`; returns the batch's header.
BatchHeader AppendBatch(capnp::MessageBuilder& message, uint64_t base_offset, uint32_t record_count,
                        int64_t max_ts, std::string* out);

}  // namespace segflow::log
