#include "operators/runtime/source_checkpointing.h"

#include <iterator>

namespace segflow {

Result<bool> SourceCheckpointing::Poll(const std::vector<SourceInput>& inputs,
                                       SourceSideOutputs* side, ConsentRecorder* consents,
                                       SourceOutputs* keyed) {
  if (hooks_ == nullptr) return false;
  const uint64_t requested = hooks_->requested.load(std::memory_order_acquire);
  while (last_barrier_ < requested) {
    SEGFLOW_RETURN_IF_ERROR(Barrier(++last_barrier_, inputs, side, consents, keyed));
  }
  if (!uncommitted_.empty()) {
    const uint64_t completed = hooks_->completed.load(std::memory_order_acquire);
    auto last = uncommitted_.upper_bound(completed);
    if (last != uncommitted_.begin()) {
      connector_->CommitPositions(std::prev(last)->second);  // the newest completed one
      uncommitted_.erase(uncommitted_.begin(), last);
    }
  }
  const uint64_t stop_at = hooks_->stop_at.load(std::memory_order_acquire);
  // Stop-with-savepoint: nothing after the savepoint's barrier.
  return stop_at != 0 && last_barrier_ >= stop_at;
}

Status SourceCheckpointing::Barrier(uint64_t id, const std::vector<SourceInput>& inputs,
                                    SourceSideOutputs* side, ConsentRecorder* consents,
                                    SourceOutputs* keyed) {
  SEGFLOW_RETURN_IF_ERROR(consents->Flush());
  SEGFLOW_RETURN_IF_ERROR(keyed->FlushAll());
  SourceCheckpointState state;
  for (const auto& in : inputs) {
    state.inputs.push_back(
        {in.topic, in.partition, in.reader->position(), in.max_prev != kNoSourceTime,
         in.max_prev == kNoSourceTime ? 0 : in.max_prev, ctx_.options.bounded, in.end_offset});
  }
  // A failure here declines the checkpoint (acked with it); the task goes on.
  Status s = side->Checkpoint(inputs, &state);
  if (s.ok()) s = WriteSourceCheckpoint(hooks_->dir(id), source_, state);
  if (s.ok() && !ctx_.job->source.kafka.group.empty()) {
    auto& positions = uncommitted_[id];
    for (const auto& in : inputs) {
      positions.push_back({in.topic, in.partition, in.reader->position()});
    }
  }
  hooks_->ack(TaskKind::kSource, source_, id, s, 0);
  return keyed->Broadcast(SourceBarrier{source_, id});
}

}  // namespace segflow
