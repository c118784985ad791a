// SourceTask: reads its share of the source topics' partitions, classifies each record
// as on time or late (spec §2, decided per partition in log order), projects on-time
// records and routes them by key group to the keyed tasks, and emits per-partition
// watermarks. Bounded: stops at the end offsets seen at start. Live: tails the log.
//
// Run is the task loop; each concern has its own file: source_restore (start positions),
// source_input (splits, bounded ends), source_side_outputs (late and rejected topics),
// consent_recorder, source_outputs (batches to the keyed tasks), source_checkpointing,
// source_watermarks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/common/status.h"
#include "engine/runtime/cancellation_token.h"
#include "engine/runtime/channel.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

class SourceTask {
 public:
  // `outputs[k]` reaches keyed task k (a local channel, or an outbox to the network).
  SourceTask(JobContext* ctx, uint32_t index, uint32_t source_tasks,
             std::vector<BoundedChannel<KeyedInput>*> outputs, TaskCounters* counters);
  // Returns Cancelled once `cancel` is (a live source may otherwise never push again).
  Status Run(const CancellationToken* cancel = nullptr);

 private:
  JobContext* ctx_;
  uint32_t index_;
  uint32_t source_tasks_;
  std::vector<BoundedChannel<KeyedInput>*> outputs_;
  TaskCounters* counters_;
};

}  // namespace segflow
