// ChangelogRelease: the sink's record path. The keyed tasks' changes are merged
// (ChangelogMerger) and released into the changelog topic in (at, user, segment) order,
// never later than the job's evaluated time as far as released (it never moves back), so
// the changelog and the audience committed with an evaluated time hold exactly the changes
// at or before it, whichever partition ran ahead. Erased users' changes are left out;
// the released ones wait in store_changes() for the next commit to the audience stores.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/common/status.h"
#include "engine/log/log.h"
#include "jobs/job_spec.h"
#include "operators/runtime/changelog_merger.h"
#include "operators/runtime/changelog_sink_task.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {

class ChangelogRelease {
 public:
  ChangelogRelease(const JobSpec& job, uint32_t keyed_tasks, uint32_t partitions,
                   const ErasureWatch* erasures, SinkResult* result, TaskCounters* counters);

  // Opens the changelog's partition writers (at their ends: a restore truncated them).
  Status Open();

  ChangelogMerger& merger() { return merger_; }
  // A keyed task's progress on partition p (the partition is released again).
  void Progress(uint32_t from, uint32_t p, int64_t frontier, bool idle) {
    merger_.Progress(from, p, frontier, idle);
    touched_[p] = true;
  }
  // A keyed task ended (finished: at `evaluated_through`); every partition is released again.
  void End(uint32_t from, bool finished, int64_t evaluated_through);
  void TouchAll() { touched_.assign(touched_.size(), true); }
  // While a version switch is pending nothing is released.
  void Hold(bool hold) { hold_ = hold; }
  // Starts the evaluated time as far as released (a restored checkpoint's evaluated time).
  void StartAt(std::optional<int64_t> evaluated) { released_through_ = evaluated; }

  // The job's evaluated time, as far as released (nullopt: none yet).
  std::optional<int64_t> Evaluated();
  // Releases each partition that moved, every one once the evaluated time did; returns it.
  std::optional<int64_t> ReleaseReady();
  // Releases every partition through the evaluated time (before a snapshot, at the end).
  void ReleaseAll();
  // At the end of the run: a finished one has evaluated through its --until.
  std::optional<int64_t> EndEvaluated(bool finished);

  // Flushes the writers (sync: all of them, with fsync; else those with buffered records).
  Status Flush(bool sync);
  // Every writer fsynced (a checkpoint): the first error, after trying all.
  Status FlushAllSynced();
  std::vector<uint64_t> Offsets() const;
  // Released changes not yet committed to the audience stores.
  std::vector<AudienceStore::Change>& store_changes() { return store_changes_; }

 private:
  // The evaluated time by the merger's frontiers alone.
  std::optional<int64_t> FrontierEvaluated() const;
  void Release(uint32_t p);
  void Write(uint32_t p, ChangeRecord& c);

  const JobSpec& job_;
  const uint32_t partitions_;
  const ErasureWatch* erasures_;
  SinkResult* result_;
  TaskCounters* counters_;
  ChangelogMerger merger_;
  std::vector<std::unique_ptr<log::PartitionWriter>> writers_;
  std::vector<ChangeRecord> released_;
  std::vector<bool> touched_;
  std::optional<int64_t> released_through_;
  int64_t final_until_ = ChangelogMerger::kNone;
  bool hold_ = false;
  std::vector<AudienceStore::Change> store_changes_;
};

}  // namespace segflow
