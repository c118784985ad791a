// KafkaCommitJournal: what the Kafka changelog committer (kafka_changelog_committer.h) has
// committed, and the transaction it has open, in one small file beside the job's
// checkpoints (which outlive a worker, as Flink's checkpoint directory does).
//
// `state` says where the last transaction was when the file was written:
//   committed   the staged records up to `changelog`/`late`/`rejected` are in Kafka;
//   open        a transaction after them was begun (its records may be in Kafka, in an
//               aborted transaction once a restarted producer's init_transactions ran);
//   committing  commit_transaction was called for it: it may or may not have committed
//               (the next attempt reads its offsets back as a read_committed consumer).
// `high_watermarks` are the Kafka partitions' ends when the open transaction began, so
// the records of an aborted one are found by offset (the sink reports them).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

struct KafkaCommitJournal {
  std::string state = "committed";
  uint64_t checkpoint = 0;  // the last committed checkpoint (or the one in flight)
  uint64_t records = 0;     // records of the transaction in flight
  // Staged (embedded-log) partition ends committed: the changelog, late and rejected topics.
  std::vector<uint64_t> changelog, late, rejected;
  // The staged ends the transaction in flight brings them to (state open or committing).
  std::vector<uint64_t> pending_changelog, pending_late, pending_rejected;
  // What produced the staged changelog the offsets count in (the committer's
  // DefinitionOf: partitions and segment versions); empty in journals written before it.
  std::string definition;
  // (Kafka topic, partition) -> its end offset when the transaction in flight began.
  std::map<std::pair<std::string, int32_t>, int64_t> high_watermarks;

  // nullopt: no file (the committer never ran for this job's checkpoints).
  static Result<std::optional<KafkaCommitJournal>> Read(const std::string& path);
  // Replaces the file atomically (write, fsync, rename).
  Status Write(const std::string& path) const;
};

}  // namespace segflow
