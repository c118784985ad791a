// SinkCommitter: FLIP-143's Committer beside the changelog sink's writer (issue 14). The
// sink task writes a checkpoint's changes to the embedded changelog (staged: invisible
// until the checkpoint completes) and hands each completed checkpoint to every committer
// of the job, which makes it visible outside exactly once: the PostgreSQL audience table
// (postgres_committer.h), the Kafka changelog (kafka_changelog_committer.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "operators/sink/audience_store.h"

namespace segflow {

// How far a commit brings the job: the checkpoint, its evaluated time and the embedded
// changelog's partition ends it covers.
struct CommitProgress {
  uint64_t checkpoint = 0;
  std::optional<int64_t> evaluated;
  std::vector<uint64_t> offsets;  // changelog partition ends applied
  // "checkpoint" (a completed checkpoint), "end" (a run's last commit, after its last
  // checkpoint), "restore" (the changelog caught up on restore), "interval" (a run
  // without checkpoints).
  std::string kind = "checkpoint";
};

class SinkCommitter {
 public:
  virtual ~SinkCommitter() = default;
  // Brings the target to the restored checkpoint `restored`: what the staged changelog holds
  // up to restored.offsets and the target lacks is committed first. `fresh` (a run from the
  // log's start, whose staged changelog was reset): nothing to catch up.
  virtual Status Restore(const CommitProgress& restored, bool fresh) = 0;
  // Commits one checkpoint: `changes` (as applied to the audience store) are the records of
  // the staged changelog up to progress.offsets not committed yet.
  virtual Status Commit(std::vector<AudienceStore::Change> changes,
                        const CommitProgress& progress) = 0;
  // Retries what failed, once its backoff elapsed (a live job).
  virtual Status Poll() = 0;
  // Commits everything queued, retrying up to `timeout` (a live job's last commit).
  virtual Status Drain(std::chrono::milliseconds timeout) = 0;
  // What was committed, for the run's log.
  virtual std::string Summary() const = 0;
};

}  // namespace segflow
