// KeyedBatchMode: how a keyed task evaluates a bounded run in batch (Flink's BATCH
// execution, issue 17). Instead of evaluating each record as it comes, through a timer
// heap over all users and a user index, the task sorts its input by user
// (KeyedRecordSorter: bounded memory, sorted runs spilled to disk) and, at the end or at
// the first checkpoint barrier, evaluates one user at a time (EvaluateUserBatch).
//
// The changes and the states are the streaming run's: see user_batch.h. Changes go to
// the sink only from Evaluate, and no partition progress before it, so the sink never
// commits a time whose changes are still unsorted here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/keyed_record_sorter.h"
#include "operators/runtime/keyed_sink_output.h"
#include "operators/segment/user_state_store.h"

namespace segflow {

class KeyedBatchMode {
 public:
  // Sorted runs spill to `spill_dir` beyond `memory_bytes` of buffered records; `task`
  // names the keyed task in the report of a spill (stderr).
  KeyedBatchMode(const JobContext& ctx, uint32_t task, std::string spill_dir, size_t memory_bytes);

  // Until Evaluate: records go to Add, not to the streaming evaluator.
  bool active() const { return active_; }
  // The records `keep` refuses are not evaluated.
  template <typename Keep>
  Status Add(const std::vector<KeyedRecord>& batch, Keep keep) {
    for (const KeyedRecord& r : batch) {
      if (keep(r)) SEGFLOW_RETURN_IF_ERROR(sorter_.Add(r));
    }
    return Status::OK();
  }
  // A user erased during the run (`segflow forget`): the records taken so far are dropped.
  void EraseUser(const std::string& user) {
    if (active_) sorter_.EraseUser(user);
  }

  // Evaluates every user, each through the instants <= last[p] of its partition p, and
  // sends the changes to the sink. With `store`, each user's state (with what is pending
  // after last[p]) goes in it, for a snapshot and a streaming evaluator's Restore; without,
  // states are dropped as each user is done. Ends batch mode.
  Status Evaluate(const std::vector<int64_t>& last, UserStateStore* store, KeyedSinkOutput* sink);

  uint64_t users() const { return users_; }
  size_t spilled_runs() const { return spilled_runs_; }

 private:
  const JobContext& ctx_;
  const uint32_t task_;
  const std::string spill_dir_;
  KeyedRecordSorter sorter_;
  bool active_ = true;
  uint64_t users_ = 0;
  size_t spilled_runs_ = 0;
};

}  // namespace segflow
