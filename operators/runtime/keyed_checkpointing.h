// KeyedCheckpointing: a keyed task's snapshot of checkpoint `id` once every source's
// barrier is in. Synchronous half, on the task's thread: the dirty cached states are
// encoded into one batch (the cache then holds evictions and write-backs), the partitions'
// progress copied, and the barrier goes on to the sink at once. Asynchronous half
// (AsyncSnapshot): the batch written to RocksDB, erased users' rows purged, a RocksDB
// checkpoint (hard-linked SST files, so unchanged files are shared between checkpoints),
// the task file, the ack; then the cache may evict again. A failed write or purge fails
// the task (the job restarts from the last completed checkpoint, losing nothing); a
// failed snapshot only declines the checkpoint.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/common/status.h"
#include "engine/runtime/channel.h"
#include "engine/state/keyed_state_backend.h"
#include "operators/runtime/async_snapshot.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/keyed_watermarks.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"
#include "operators/segment/cached_user_state_store.h"

namespace segflow {

// Declare it after the backend and the evaluator: it is destroyed (joined) before them.
class KeyedCheckpointing {
 public:
  KeyedCheckpointing(const JobContext& ctx, uint32_t task, KeyGroupRange range,
                     KeyedStateBackend* backend, CachedUserStateStore* states,
                     BoundedChannel<SinkMessage>* output, TaskCounters* counters)
      : hooks_(ctx.checkpoints),
        task_(task),
        range_(range),
        backend_(backend),
        states_(states),
        output_(output),
        counters_(counters) {}

  // Takes checkpoint `id` (waiting for the previous one's asynchronous half first) and
  // sends the barrier to the sink.
  Status Snapshot(uint64_t id, const KeyedWatermarks& watermarks);
  // Between inputs: collects a finished asynchronous half (its write's status).
  Status Poll() {
    if (auto finished = async_.Poll()) return EndHold(*finished);
    return Status::OK();
  }
  // At the end: the last snapshot (a final or stop-with-savepoint barrier) completes.
  Status Wait() { return async_.running() ? EndHold(async_.Wait()) : Status::OK(); }

 private:
  Status EndHold(const Status& async_status) {
    states_->EndSnapshotHold();
    return async_status;
  }

  CheckpointHooks* hooks_;
  const uint32_t task_;
  const KeyGroupRange range_;
  KeyedStateBackend* backend_;
  CachedUserStateStore* states_;
  BoundedChannel<SinkMessage>* output_;
  TaskCounters* counters_;
  AsyncSnapshot async_;
};

}  // namespace segflow
