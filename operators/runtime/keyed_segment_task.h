// KeyedSegmentTask: owns a key-group range and evaluates every segment for its users.
//
// Each user advances by the watermark of its own partition (ARCHITECTURE.md invariant 2):
// a partition's watermark is the minimum over the source topics of that partition index,
// so an on-time record can never arrive for an instant already evaluated. Idle partitions
// still hold their own users back (exactness over liveness); idleness only stops them
// holding back the job's reported evaluated time.
//
// Run is the task loop; each concern has its own file: keyed_restore (state, migration),
// keyed_watermarks, keyed_erasure, keyed_checkpointing, keyed_bounded_end (--until, the
// end), keyed_sink_output.
#pragma once

#include <cstdint>

#include "engine/common/status.h"
#include "engine/runtime/channel.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

class KeyedSegmentTask {
 public:
  KeyedSegmentTask(JobContext* ctx, uint32_t index, uint32_t source_tasks, BoundedChannel<KeyedInput>* input,
                   BoundedChannel<SinkMessage>* output, TaskCounters* counters);
  Status Run();

 private:
  JobContext* ctx_;
  uint32_t index_;
  uint32_t source_tasks_;
  BoundedChannel<KeyedInput>* input_;
  BoundedChannel<SinkMessage>* output_;
  TaskCounters* counters_;
};

}  // namespace segflow
