#include "operators/runtime/keyed_checkpointing.h"

#include <memory>
#include <string>
#include <utility>

#include "engine/state/message_file.h"

namespace segflow {

Status KeyedCheckpointing::Snapshot(uint64_t id, const KeyedWatermarks& watermarks) {
  SEGFLOW_RETURN_IF_ERROR(Wait());
  const std::string dir = hooks_->dir(id);
  auto batch = std::make_shared<StateWriteBatch>(backend_);
  Status drained = states_->DrainForSnapshot(batch.get());
  if (!drained.ok()) {
    hooks_->ack(TaskKind::kKeyed, task_, id, drained, 0);
    return drained;
  }
  // Users erased since the last snapshot: their deletions are in this batch (or already
  // written back), so their old rows can be purged from the files before the snapshot.
  std::vector<std::string> erased = states_->TakeErasedKeys();
  std::vector<PartitionCheckpoint> progress = watermarks.Progress();
  async_.Start([hooks = hooks_, task = task_, id, dir, range = range_, batch,
                progress = std::move(progress), db = backend_, erased = std::move(erased),
                state = states_->state_id()] {
    // Only a failed write is fatal (the batch's states are clean in the cache, so they
    // would be lost); a failed snapshot just declines this checkpoint.
    Status written = db->Write(batch.get());
    Status s = written;
    // A failed purge is fatal too, so no checkpoint completes with an erased row in its
    // files: the job restarts from the last completed checkpoint, and a restore erases
    // (and the next snapshot purges) the users again.
    if (written.ok() && !erased.empty()) written = s = db->PurgeDeleted(state, erased);
    if (s.ok()) s = db->SnapshotStored(KeyedSnapshotDir(dir, task));
    if (s.ok()) s = WriteKeyedCheckpoint(dir, task, range, progress);
    hooks->ack(TaskKind::kKeyed, task, id, s,
               s.ok() ? DirectoryBytes(KeyedSnapshotDir(dir, task)) : 0);
    return written;
  });
  return counters_->Push(output_, SinkMessage{task_, SinkInput(KeyedBarrier{id})});
}

}  // namespace segflow
