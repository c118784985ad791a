// Sources behind one small interface (FLIP-27's shape, issue 14): a source is a set of
// splits, one per (source topic, partition), each read by a SplitReader that polls
// records in offset order, reports its position for checkpoints and is opened at any
// offset (restore, --from). The embedded log (log_source.h) and Kafka (kafka_source.h)
// implement it; the source task (operators/runtime/source_task.cc) knows neither.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/log/log.h"
#include "engine/value/event.h"

namespace segflow {

// `source.kafka` (spec integrations §10.1). Empty bootstrap: the source is the embedded log.
struct KafkaSourceConfig {
  std::string bootstrap;                          // bootstrap.servers
  std::map<std::string, std::string> properties;  // librdkafka client properties, passed as is
  std::string group;  // optional: offsets committed there for monitoring
  bool enabled() const { return !bootstrap.empty(); }
};

struct SourceConfig {
  std::string log_dir;              // the embedded log (when not Kafka)
  std::vector<std::string> topics;  // split = (index in topics, partition)
  RoleFields fields;                // how a Kafka record's JSON value becomes an Event
  KafkaSourceConfig kafka;
};

// A record whose value is not a valid event (Kafka only: the embedded log decodes at
// `segflow produce`). It takes its offset but is never evaluated.
struct RejectedRecord {
  uint32_t topic = 0;
  uint32_t partition = 0;
  uint64_t offset = 0;
  std::string value;
  std::string reason;
};

class SplitReader {
 public:
  virtual ~SplitReader() = default;
  // Appends up to `max_records` decoded records to `out` (offset order) and the
  // undecodable ones to `rejects`; returns how many of both. 0: nothing now.
  virtual Result<size_t> Poll(size_t max_records, std::vector<log::LogRecord>* out,
                              std::vector<RejectedRecord>* rejects) = 0;
  // The next offset to read: what a checkpoint records and a restore opens at.
  virtual uint64_t position() const = 0;
  // Before the first Poll: records may keep only the props `projection` names
  // (log::LogRecord::partial), except late ones (log::PartitionReader::Project). Default:
  // every record whole.
  virtual void Project(std::shared_ptr<const log::PropsProjection> projection, int64_t max_prev,
                       int64_t out_of_orderness) {
    (void)projection;
    (void)max_prev;
    (void)out_of_orderness;
  }
  // Takes back the records of a Poll once read (clearing `used`), to decode into again.
  virtual void Recycle(std::vector<log::LogRecord>* used) { used->clear(); }
};

class SourceConnector {
 public:
  virtual ~SourceConnector() = default;
  // Partitions of source topic `topic`; an error names the topic and where it was looked for.
  virtual Result<uint32_t> Partitions(uint32_t topic) = 0;
  // One past the last readable offset now (--bounded stops there).
  virtual Result<uint64_t> EndOffset(uint32_t topic, uint32_t partition) = 0;
  // The first offset whose record time is >= `ms` (the end offset if none): --from time:.
  virtual Result<uint64_t> OffsetForTime(uint32_t topic, uint32_t partition, int64_t ms) = 0;
  // Opens a reader of one split at `start`. All readers of a task are opened before the
  // first Poll of any of them.
  virtual Result<std::unique_ptr<SplitReader>> OpenReader(uint32_t topic, uint32_t partition,
                                                          uint64_t start) = 0;
  // True when a Poll returns every record already in the split (the embedded log): a
  // bounded reader that gets none before its end offset then lacks records for good.
  virtual bool reads_are_immediate() const = 0;
  // "log /x" or "Kafka 127.0.0.1:9092", for messages.
  virtual std::string where() const = 0;
  // After a checkpoint completed: its positions, for monitoring tools only (Kafka with
  // `group:` commits them to that consumer group; recovery never reads them). Best effort,
  // never blocking the record loop. Default: nothing.
  struct SplitPosition {
    uint32_t topic = 0;
    uint32_t partition = 0;
    uint64_t offset = 0;
  };
  virtual void CommitPositions(const std::vector<SplitPosition>& positions) { (void)positions; }
};

// The embedded log, or Kafka when config.kafka is enabled.
Result<std::unique_ptr<SourceConnector>> OpenSourceConnector(const SourceConfig& config);

}  // namespace segflow
