// What every task of one segment job shares, read-only, for the job's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/segment/program.h"

namespace segflow {

class StateMigration;  // operators/segment/state_migration.h

struct RunOptions {
  bool bounded = false;
  bool has_until = false;
  int64_t until = 0;
  std::string state_dir;  // per-job working state (RocksDB per keyed task)
  size_t state_cache_entries = 1u << 20;  // users' states cached in memory, per keyed task
  // Bounded runs evaluate in batch (keyed_batch.h): each keyed task sorts its input by user
  // and evaluates one user at a time. False: as a live run does (streaming).
  bool batch = true;
  // Batch: the input a keyed task holds in memory before it spills sorted runs to disk.
  size_t sort_memory_bytes = size_t{256} << 20;
  int64_t poll_interval_ms = 10;  // live: how often a caught-up source polls again
  // Reprocessing: where each (topic, partition) starts when not restoring a checkpoint
  // (absent: offset 0). State starts empty there: only the range's records count.
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> start_offsets;
  // Bounded: where each listed (topic, partition) ends (default: its end when the run
  // starts). Offsets are exclusive.
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> end_offsets;
  // False for a preview (segflow preview): late and rejected records are counted, not
  // written to the job's topics, so that the preview leaves the job's outputs as they were.
  bool write_late = true;
};

// The memory budget of a process (--memory-budget) for its `keyed_tasks` keyed tasks:
// half of it for batch sort buffers, the rest for everything else (state caches, RocksDB,
// channels, the sink).
inline constexpr size_t kDefaultMemoryBudget = size_t{1} << 30;
inline constexpr size_t kMinMemoryBudget = size_t{1} << 20;
inline size_t SortMemoryPerKeyedTask(size_t budget_bytes, uint32_t keyed_tasks) {
  return budget_bytes / 2 / (keyed_tasks == 0 ? 1 : keyed_tasks);
}

enum class TaskKind { kSource, kKeyed, kSink };

// Checkpointing of a job on a cluster (issue #5), shared by its tasks. The coordinator
// raises `requested`; each source emits a barrier for every id up to it; keyed tasks and
// the sink align barriers, snapshot into dir(id), and ack. The sink commits the
// changelog (transactional) once `completed` reaches a checkpoint it took.
struct CheckpointHooks {
  std::atomic<uint64_t> requested{0};
  std::atomic<uint64_t> completed{0};
  std::function<std::string(uint64_t id)> dir;
  std::function<void(TaskKind kind, uint32_t index, uint64_t id, const Status& status, uint64_t bytes)> ack;
  bool transactional = false;  // the changelog commits only with completed checkpoints
  std::string restore_dir;     // a completed checkpoint to start from; empty: the log's start
  uint64_t restore_id = 0;
  // restore_dir is the savepoint a new job was submitted from (not one of its own
  // checkpoints): the bounded end offsets in it were another job's and do not apply.
  bool restore_is_savepoint = false;
  // Set when restore_dir's state was built by another job file (PlanRestoreMigration):
  // keyed tasks rewrite their restored users' states with it before they start.
  std::shared_ptr<const StateMigration> restore_migration;
  // A version upgrade's handover: the savepoint of a backfill of this job file at the same
  // offsets as restore_dir, whose state the changed segments take (restore_migration.h).
  std::string merge_dir;
  // Stop-with-savepoint: sources stop right after emitting this barrier (0: none).
  std::atomic<uint64_t> stop_at{0};
  // Bounded: at their end offsets sources wait (for a stop-with-savepoint) instead of
  // finishing, so a live job can continue from exactly there.
  bool end_with_savepoint = false;
};

struct JobContext {
  const JobSpec* job = nullptr;
  std::shared_ptr<const SegmentProgram> program;
  RunOptions options;
  uint32_t partitions = 0;                 // per source topic (all equal)
  uint32_t keyed_tasks = 0;                // = job parallelism
  std::string late_topic;                  // "<job>.late"
  std::atomic<bool>* stop = nullptr;       // set by SIGINT/SIGTERM: stop a live run cleanly
  std::atomic<uint64_t> late_records{0};   // counter (spec §2)
  std::atomic<uint64_t> rejected_records{0};  // undecodable source records, in "<job>.rejected"
  std::atomic<uint64_t> records_in{0};
  CheckpointHooks* checkpoints = nullptr;  // null: no checkpoints (in-process runs)
};

}  // namespace segflow
