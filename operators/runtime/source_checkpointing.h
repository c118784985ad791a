// SourceCheckpointing: a source task's side of checkpoints. For every requested id it
// flushes what precedes the barrier (consents, batches, late and rejected records), writes
// the inputs' positions, acks, and sends the barrier; completed checkpoints' positions go
// to the source's consumer group; a stop-with-savepoint stops the task after its barrier.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "connectors/source_connector.h"
#include "engine/common/status.h"
#include "operators/runtime/consent_recorder.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/source_input.h"
#include "operators/runtime/source_outputs.h"
#include "operators/runtime/source_side_outputs.h"

namespace segflow {

class SourceCheckpointing {
 public:
  SourceCheckpointing(const JobContext& ctx, uint32_t source, SourceConnector* connector)
      : ctx_(ctx),
        hooks_(ctx.checkpoints),
        source_(source),
        connector_(connector),
        last_barrier_(hooks_ != nullptr ? hooks_->restore_id : 0) {}

  // Between polls: every barrier requested since the last, then the completed positions.
  // True when a stop-with-savepoint's barrier has gone out: the task reads nothing more.
  Result<bool> Poll(const std::vector<SourceInput>& inputs, SourceSideOutputs* side,
                    ConsentRecorder* consents, SourceOutputs* keyed);

 private:
  // Everything sent so far (and every late record written so far) belongs to checkpoint
  // `id`: snapshot the positions, then the barrier goes downstream.
  Status Barrier(uint64_t id, const std::vector<SourceInput>& inputs, SourceSideOutputs* side,
                 ConsentRecorder* consents, SourceOutputs* keyed);

  const JobContext& ctx_;
  CheckpointHooks* hooks_;
  const uint32_t source_;
  SourceConnector* connector_;
  uint64_t last_barrier_;
  // Positions of checkpoints taken, committed to source.kafka.group once completed.
  std::map<uint64_t, std::vector<SourceConnector::SplitPosition>> uncommitted_;
};

}  // namespace segflow
