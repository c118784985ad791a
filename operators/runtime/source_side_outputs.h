// SourceSideOutputs: the topics a source task writes beside its records — late records to
// "<job>.late" (spec §2) and a Kafka source's undecodable ones to "<job>.rejected", each
// in its input's partition, which this task owns — and their ends for a checkpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "connectors/source_connector.h"
#include "engine/common/status.h"
#include "engine/log/log.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/source_input.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

class SourceSideOutputs {
 public:
  SourceSideOutputs(JobContext* ctx, TaskCounters* counters)
      : ctx_(ctx), counters_(counters), late_(ctx->partitions), rejected_(ctx->partitions) {}

  // A late record of partition `p`: written (not in a preview) and counted.
  Status WriteLate(uint32_t p, const Event& event);
  // The undecodable records `in` just polled: written (not in a preview), counted, cleared.
  Status WriteRejects(const SourceInput& in, std::vector<RejectedRecord>* rejects);
  // The late and rejected topics' ends at a barrier, the writers flushed (fsync) first.
  Status Checkpoint(const std::vector<SourceInput>& inputs, SourceCheckpointState* state);
  // Caught up: what is buffered goes out (no fsync).
  Status FlushBuffered();
  // The end of the run: everything, with fsync.
  Status FlushAll();

 private:
  JobContext* ctx_;
  TaskCounters* counters_;
  std::vector<std::unique_ptr<log::PartitionWriter>> late_;
  std::vector<std::unique_ptr<log::PartitionWriter>> rejected_;
};

}  // namespace segflow
