// The embedded log: topics of N partitions in a directory, Kafka-like.
//
// Layout: <dir>/<topic>/topic.meta and <dir>/<topic>/<partition>/ with segment files
// <base-offset>.log (CRC-checked batches) and <base-offset>.index (sparse offset index),
// and a LOCK file: one writer per partition at a time (flock), so concurrent producers
// never interleave bytes. A torn or corrupt tail of the partition's last segment is
// detected when a writer opens the partition and truncated; an earlier segment is never
// touched (a segment is synced before the next one exists, so only the last can be torn:
// an earlier one cut short is Corruption). Readers never serve a batch whose CRC does not check.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/value/event.h"

namespace segflow::log {

struct PropsProjection;  // record_codec.h

enum class TopicFormat { kEvents, kChangelog };

struct TopicMeta {
  uint32_t partitions = 1;
  TopicFormat format = TopicFormat::kEvents;
  RoleFields fields;  // role field names used when printing events
};

// Creates the topic if missing (with `meta`), else returns the existing meta
// (the existing partition count wins; a mismatch is not an error).
Result<TopicMeta> EnsureTopic(const std::string& log_dir, const std::string& topic, const TopicMeta& meta);
Result<TopicMeta> ReadTopicMeta(const std::string& log_dir, const std::string& topic);
// Removes a topic and all its data (used to reset a job's outputs).
Status DeleteTopic(const std::string& log_dir, const std::string& topic);

// Topic names: [A-Za-z0-9._-]+, not starting with '.'.
Status ValidateTopicName(const std::string& topic);

// A record as read back from the log.
struct LogRecord {
  uint32_t partition = 0;
  uint64_t offset = 0;
  Event event;  // user = record key, type = record event, ts, props
  // The props hold only what a reader's projection asked for (PartitionReader::Project).
  bool partial = false;
};

struct WriterOptions {
  // A segment file rolls once the next batch would take it past this size.
  uint64_t segment_bytes = DefaultSegmentBytes();
  // A sparse index entry at most every this many bytes of a segment.
  uint32_t index_interval_bytes = 4096;

  // 128 MiB, or the environment variable SEGFLOW_LOG_SEGMENT_BYTES (tests use small ones).
  static uint64_t DefaultSegmentBytes();
};

// Appends to one partition. Takes the partition's LOCK around each Flush, so several
// writers (threads or processes) may append to one partition safely: under the lock a
// writer first catches up with what others appended, so offsets stay dense.
// Opening recovers the partition (under the lock): a torn tail is truncated.
// Records still buffered when the writer is destroyed are dropped: call Flush.
class PartitionWriter {
 public:
  static Result<std::unique_ptr<PartitionWriter>> Open(const std::string& log_dir, const std::string& topic,
                                                      uint32_t partition,
                                                      const WriterOptions& options = WriterOptions());
  ~PartitionWriter();
  // Buffers one record; returns its offset only after Flush (see NextOffset).
  void Append(const Event& event);
  void Append(Event&& event);
  size_t buffered() const;
  size_t buffered_bytes() const;
  // Writes the buffered records as one or more CRC'd batches; fsync when `sync`.
  Status Flush(bool sync);
  // Offset the next flushed record will get (valid after Open / Flush).
  uint64_t NextOffset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads one partition from an offset, batch by batch. A live reader calls Poll again
// after it returns no records to see new appends. Every batch's CRC is verified; an
// unfinished last batch of the last segment is "not yet written"; a bad batch followed by
// more data, or an earlier segment that ends short of the next one's base offset (cut
// short, damaged or missing), is Corruption naming the file and byte position.
class PartitionReader {
 public:
  static Result<std::unique_ptr<PartitionReader>> Open(const std::string& log_dir, const std::string& topic,
                                                      uint32_t partition, uint64_t start_offset);
  ~PartitionReader();
  // Appends up to `max_records` records to `out` (may be fewer); 0 means caught up.
  // Corruption in the middle of the log is an error, never skipped silently.
  Result<size_t> Poll(size_t max_records, std::vector<LogRecord>* out);
  uint64_t position() const;  // next offset to read

  // From the next decoded batch on, records keep only the props `projection` names
  // (LogRecord::partial), except the ones a source task reading this partition in offset
  // order finds late (spec §2: ts < the largest ts before it − out_of_orderness, starting
  // from `max_prev`, INT64_MIN for none), which it copies whole to the late topic.
  void Project(std::shared_ptr<const PropsProjection> projection, int64_t max_prev,
               int64_t out_of_orderness);
  // Takes back records a Poll handed out (and clears `used`): a projected decode reuses
  // their storage instead of allocating per record.
  void Recycle(std::vector<LogRecord>* used);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The offset one past the last record of each partition (the "end" / latest).
Result<uint64_t> EndOffset(const std::string& log_dir, const std::string& topic, uint32_t partition);

}  // namespace segflow::log
