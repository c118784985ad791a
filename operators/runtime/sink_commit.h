// SinkCommit: makes the sink's output visible and advances the job's evaluated time.
// Without transactions, each commit applies the released changes to the audience stores
// (the committers get them at most once a second). Transactional (checkpoints), records
// stay invisible until a checkpoint covering them completes: each checkpoint's changes
// are staged and published (commit marker, stores, committers) once it completes, and a
// clean end publishes everything left, as a final checkpoint would.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "engine/common/status.h"
#include "engine/log/transaction.h"
#include "operators/runtime/changelog_release.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/sink_audience.h"
#include "operators/runtime/sink_committers.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

class SinkCommit {
 public:
  // `evaluated`: the evaluated time committed so far (a restored checkpoint's).
  SinkCommit(const JobContext& ctx, ChangelogRelease* changelog, SinkAudience* audience,
             SinkCommitters* committers, TaskCounters* counters, std::optional<int64_t> evaluated);

  bool transactional() const { return transactional_; }
  // The evaluated time committed (transactional: written) so far.
  std::optional<int64_t> last_evaluated() const { return last_evaluated_; }

  // Flushes the changelog (sync: fsync) and, not transactional, commits the released
  // changes with `through` (never moving the evaluated time back).
  Status Commit(bool sync, std::optional<int64_t> through);
  // Transactional: checkpoint `id` was taken with the changelog at `offsets`; the changes
  // released so far are what it will publish.
  void Stage(uint64_t id, std::optional<int64_t> through, std::vector<uint64_t> offsets);
  // Transactional: publishes every staged checkpoint that has completed.
  Status PublishCompleted();
  // Transactional, at a clean end: what was evaluated is final, so it is all published.
  Status PublishEnd();

 private:
  // Makes `marker`'s records visible and applies `changes` to the stores and committers.
  Status Publish(const log::CommitMarker& marker, const std::vector<AudienceStore::Change>& changes,
                 bool final_publish);

  // A checkpoint taken but not completed yet (transactional): what it will commit.
  struct PendingCommit {
    uint64_t id = 0;
    log::CommitMarker marker;
    std::vector<AudienceStore::Change> changes;
  };

  const JobContext& ctx_;
  CheckpointHooks* hooks_;
  const bool transactional_;
  ChangelogRelease* changelog_;
  SinkAudience* audience_;
  SinkCommitters* committers_;
  TaskCounters* counters_;
  std::optional<int64_t> last_evaluated_;
  std::deque<PendingCommit> pending_;
  // Not transactional: released changes since the committers' last commit.
  std::vector<AudienceStore::Change> committer_changes_;
  std::chrono::steady_clock::time_point last_committers_ = std::chrono::steady_clock::now();
};

}  // namespace segflow
