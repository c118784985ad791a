#include "operators/runtime/sink_checkpointing.h"

#include <optional>

#include "operators/runtime/checkpoint_state.h"

namespace segflow {

Status SnapshotSink(uint64_t id, const JobContext& ctx, ChangelogRelease* changelog,
                    const SinkResult& result, SinkCommit* commit) {
  const JobSpec& job = *ctx.job;
  const uint32_t partitions = ctx.partitions;
  CheckpointHooks* hooks = ctx.checkpoints;
  const std::optional<int64_t> through = changelog->Evaluated();
  changelog->ReleaseAll();
  Status s = changelog->FlushAllSynced();
  SinkCheckpointState state;
  state.offsets = changelog->Offsets();
  const ChangelogMerger& merger = changelog->merger();
  for (uint32_t p = 0; p < partitions; ++p) {
    state.frontiers.push_back(merger.Frontier(p));
    state.idle.push_back(merger.Idle(p));
  }
  state.has_evaluated = through.has_value();
  state.evaluated = through.value_or(0);
  state.entered = result.entered;
  state.exited = result.exited;
  for (uint32_t p = 0; p < partitions; ++p) {
    for (const auto& c : merger.Pending(p)) {
      state.pending.push_back({p, job.segments[c.segment].id, c.user, c.entered, c.at, c.pos});
    }
  }
  if (s.ok()) s = WriteSinkCheckpoint(hooks->dir(id), state);
  hooks->ack(TaskKind::kSink, 0, id, s, 0);
  if (s.ok() && commit->transactional()) commit->Stage(id, through, state.offsets);
  return Status::OK();
}

}  // namespace segflow
