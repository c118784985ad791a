// Transactional topics (ARCHITECTURE.md invariant 5): a writer may append records that
// are not yet committed; a commit marker (<topic>/COMMITTED, written atomically) says per
// partition up to which offset records are committed, with the job's evaluated time and
// the checkpoint that committed them. Read-committed consumers stop at the marker;
// recovery aborts an uncommitted tail by truncating the partition back to it (Kafka's
// transactions, with truncation in place of abort markers: one writer per topic).
// A topic without a marker is not transactional: everything in it is committed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace segflow::log {

struct CommitMarker {
  uint64_t checkpoint = 0;                // 0: committed without a checkpoint
  std::optional<int64_t> evaluated;       // every instant <= this is in the committed records
  std::vector<uint64_t> offsets;          // per partition: records below are committed
};

// Replaces the marker durably (temp file, fsync, rename, fsync of the topic directory).
Status WriteCommitMarker(const std::string& log_dir, const std::string& topic, const CommitMarker& marker);
// nullopt when the topic has no marker (not transactional); Corruption for a bad one.
Result<std::optional<CommitMarker>> ReadCommitMarker(const std::string& log_dir, const std::string& topic);

// Per partition, the end of what a read-committed reader may read: the marker's offset, or
// UINT64_MAX for a topic without a marker (everything is committed).
Result<std::vector<uint64_t>> CommittedLimits(const std::string& log_dir, const std::string& topic,
                                              uint32_t partitions);

// Drops every record at or after `offset` in the partition (aborting an uncommitted
// tail), under the partition's lock. `offset` must be a batch boundary (a writer's flush
// point) at or below the end; InvalidArgument otherwise.
Status TruncatePartition(const std::string& log_dir, const std::string& topic, uint32_t partition,
                         uint64_t offset);

}  // namespace segflow::log
