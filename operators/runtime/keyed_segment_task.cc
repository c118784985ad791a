#include "operators/runtime/keyed_segment_task.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state/message_file.h"
#include "operators/runtime/async_snapshot.h"
#include "operators/runtime/barrier_aligner.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/restore_migration.h"
#include "operators/segment/cached_user_state_store.h"
#include "operators/segment/keyed_evaluator.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

}  // namespace

KeyedSegmentTask::KeyedSegmentTask(JobContext* ctx, uint32_t index, uint32_t source_tasks,
                                   BoundedChannel<KeyedInput>* input, BoundedChannel<SinkMessage>* output,
                                   TaskCounters* counters)
    : ctx_(ctx), index_(index), source_tasks_(source_tasks), input_(input), output_(output), counters_(counters) {}

Status KeyedSegmentTask::Run() {
  const uint32_t partitions = ctx_->partitions;
  const uint32_t topics = static_cast<uint32_t>(ctx_->job->source.topics.size());
  // Keyed state: this subtask's key groups in its own RocksDB, behind a write-back cache.
  const uint32_t max_parallelism = ctx_->job->max_parallelism;
  KeyedStateOptions state_options;
  state_options.max_parallelism = max_parallelism;
  const KeyGroupRange range = KeyGroupRange::ForSubtask(index_, max_parallelism, ctx_->keyed_tasks);
  const std::string working = ctx_->options.state_dir + "/keyed-" + std::to_string(index_);
  CheckpointHooks* hooks = ctx_->checkpoints;
  const bool restoring = hooks != nullptr && !hooks->restore_dir.empty();
  Result<std::unique_ptr<KeyedStateBackend>> backend = Status::OK();
  if (restoring) {
    // Any number of keyed tasks wrote the checkpoint: take our key groups from all of them.
    auto dirs = KeyedSnapshotDirs(hooks->restore_dir);
    if (!dirs.ok()) return dirs.status();
    backend = KeyedStateBackend::Restore(*dirs, working, range, state_options);
  } else {
    backend = KeyedStateBackend::Open(working, range, state_options);
  }
  if (!backend.ok()) return backend.status();

  // Per partition: each topic's watermark and idleness; the partition advances by the min.
  std::vector<std::vector<int64_t>> topic_wm(partitions, std::vector<int64_t>(topics, kNoTime));
  std::vector<std::vector<bool>> topic_idle(partitions, std::vector<bool>(topics, false));
  std::vector<int64_t> partition_wm(partitions, kNoTime);
  std::vector<std::vector<SwitchChange>> switched;  // a version switch's changes, by partition
  std::vector<bool> partition_idle(partitions, false);
  if (restoring) {
    auto progress = ReadKeyedProgress(hooks->restore_dir);
    if (!progress.ok()) return progress.status();
    for (const auto& pc : *progress) {
      if (pc.partition >= partitions || pc.topic_watermarks.size() != topics || pc.topic_idle.size() != topics) {
        return Status::Corruption("checkpoint " + hooks->restore_dir + " was taken with other partitions or topics");
      }
      topic_wm[pc.partition] = pc.topic_watermarks;
      topic_idle[pc.partition] = pc.topic_idle;
      partition_wm[pc.partition] = pc.watermark;
      partition_idle[pc.partition] = pc.idle;
    }
    if (hooks->restore_migration && !hooks->merge_dir.empty()) {
      // A version upgrade's handover: the changed segments' state comes from the
      // backfill's savepoint (same offsets), restored beside ours for the same key groups.
      auto merge_dirs = KeyedSnapshotDirs(hooks->merge_dir);
      if (!merge_dirs.ok()) return merge_dirs.status();
      const std::string merge_working = working + "-merge";
      {
        auto merge = KeyedStateBackend::Restore(*merge_dirs, merge_working, range, state_options);
        if (!merge.ok()) return merge.status();
        SEGFLOW_RETURN_IF_ERROR(MigrateKeyedState(*hooks->restore_migration, backend->get(), partition_wm,
                                                  merge->get(), &switched));
      }
      std::error_code ec;
      std::filesystem::remove_all(merge_working, ec);
    } else if (hooks->restore_migration) {
      SEGFLOW_RETURN_IF_ERROR(MigrateKeyedState(*hooks->restore_migration, backend->get(), partition_wm));
    }
  }
  auto store = CachedUserStateStore::Open(ctx_->program, backend->get(),
                                          ctx_->options.state_cache_entries);
  if (!store.ok()) return store.status();
  CachedUserStateStore* states = store->get();  // owned by the evaluator
  KeyedEvaluator evaluator(ctx_->program, partitions, std::move(*store));
  // Declared after the backend and the evaluator: destroyed (joined) before them.
  AsyncSnapshot async;

  // Users erased by `segflow forget` (erasure_ledger.h): their state leaves this task's
  // keyed state (cache, RocksDB, the evaluator's timers) when the task starts — a restored
  // checkpoint or savepoint taken before the erasure brings nobody back — and within a
  // second of each new ledger record, so no checkpoint whose barrier comes after that
  // holds them. The whole state goes, also what records after the erasure time built in
  // that second: state cannot be split by record, and privacy errs on the erasure's side
  // (the user's next record starts a new state). Records of theirs up to the erasure
  // time that were already on their way from a source are dropped here.
  ErasureWatch erasures(LedgerPath(*ctx_->job));
  SEGFLOW_RETURN_IF_ERROR(erasures.Load());
  Erasures applied;  // user -> the erased_at already applied here
  auto apply_erasures = [&](const std::string& when) -> Status {
    uint64_t erased = 0;
    for (const auto& [user, at] : erasures.erasures()) {
      auto done = applied.find(user);
      if (done != applied.end() && done->second >= at) continue;
      auto had = evaluator.EraseUser(user);
      if (!had.ok()) return had.status();
      erased += *had;
      applied[user] = at;
    }
    // The report of the erasure (stderr: the worker's log; `segflow status` has no field
    // for it yet).
    if (erased > 0) {
      std::fprintf(
          stderr, "segflow: job %s keyed task %u: erased %llu user(s) from its keyed state %s\n",
          ctx_->job->name.c_str(), index_, static_cast<unsigned long long>(erased), when.c_str());
    }
    return Status::OK();
  };
  if (restoring) {
    // Before the evaluator schedules the restored users: no timer of an erased user exists.
    SEGFLOW_RETURN_IF_ERROR(apply_erasures("(restored from " + hooks->restore_dir + ")"));
    SEGFLOW_RETURN_IF_ERROR(evaluator.Restore(partition_wm));
  } else {
    applied = erasures.erasures();  // a fresh backend holds nobody
  }
  // The version switch goes out before anything else (ChangeBatch::switched).
  for (uint32_t p = 0; p < switched.size(); ++p) {
    if (switched[p].empty()) continue;
    ChangeBatch batch;
    batch.partition = p;
    batch.switched = true;
    for (auto& c : switched[p]) {
      batch.changes.push_back({c.change.at, std::move(c.user), c.change.segment, c.change.entered, c.change.pos});
    }
    counters_->records_out.fetch_add(batch.changes.size(), std::memory_order_relaxed);
    SEGFLOW_RETURN_IF_ERROR(counters_->Push(output_, SinkMessage{index_, SinkInput(std::move(batch))}));
  }
  switched.clear();

  // Checkpoint `id` (every source's barrier is in). Synchronous half, here: the dirty
  // cached states are encoded into one batch (the cache then holds evictions and
  // write-backs) and the partitions' progress copied; the barrier goes on to the sink at
  // once. Asynchronous half (AsyncSnapshot): the batch written to RocksDB, a RocksDB
  // checkpoint (hard-linked SST files, so unchanged files are shared between
  // checkpoints), the task file, the ack; then the cache may evict again. A failed write
  // fails the task (the batch's states are no longer dirty in the cache): the job
  // restarts from the last completed checkpoint, losing nothing. A failed snapshot only
  // declines the checkpoint, as before.
  auto end_hold = [&](const Status& async_status) -> Status {
    states->EndSnapshotHold();
    return async_status;
  };
  auto snapshot = [&](uint64_t id) -> Status {
    if (async.running()) SEGFLOW_RETURN_IF_ERROR(end_hold(async.Wait()));
    const std::string dir = hooks->dir(id);
    auto batch = std::make_shared<StateWriteBatch>(backend->get());
    Status drained = states->DrainForSnapshot(batch.get());
    if (!drained.ok()) {
      hooks->ack(TaskKind::kKeyed, index_, id, drained, 0);
      return drained;
    }
    // Users erased since the last snapshot: their deletions are in this batch (or already
    // written back), so their old rows can be purged from the files before the snapshot.
    std::vector<std::string> erased = states->TakeErasedKeys();
    std::vector<PartitionCheckpoint> progress(partitions);
    for (uint32_t p = 0; p < partitions; ++p) {
      progress[p] = {p, topic_wm[p], topic_idle[p], partition_wm[p], partition_idle[p]};
    }
    async.Start([this, hooks, id, dir, range, batch, progress = std::move(progress),
                 db = backend->get(), erased = std::move(erased), state = states->state_id()] {
      // Only a failed write is fatal (the batch's states are clean in the cache, so they
      // would be lost); a failed snapshot just declines this checkpoint.
      Status written = db->Write(batch.get());
      Status s = written;
      // A failed purge is fatal too, so no checkpoint completes with an erased row in its
      // files: the job restarts from the last completed checkpoint, and a restore erases
      // (and the next snapshot purges) the users again.
      if (written.ok() && !erased.empty()) written = s = db->PurgeDeleted(state, erased);
      if (s.ok()) s = db->SnapshotStored(KeyedSnapshotDir(dir, index_));
      if (s.ok()) s = WriteKeyedCheckpoint(dir, index_, range, progress);
      hooks->ack(TaskKind::kKeyed, index_, id, s, s.ok() ? DirectoryBytes(KeyedSnapshotDir(dir, index_)) : 0);
      return written;
    });
    return counters_->Push(output_, SinkMessage{index_, SinkInput(KeyedBarrier{id})});
  };
  BarrierAligner<KeyedInput> aligner(source_tasks_);

  // Bounded with --until T: no instant after T is evaluated, whatever the data's
  // watermarks say (instants < W are evaluated when a partition reaches W). Events after
  // T cannot change an instant <= T, so they are dropped — unless the run ends with a
  // savepoint for a live job to continue from, which needs them in state.
  const RunOptions& run = ctx_->options;
  const bool capped = run.bounded && run.has_until;
  const int64_t watermark_cap =
      run.until == std::numeric_limits<int64_t>::max() ? run.until : run.until + 1;
  const bool drop_after_until = capped && (hooks == nullptr || !hooks->end_with_savepoint);

  std::vector<KeyedChange> changes;
  auto send_changes = [&](uint32_t p) -> Status {
    if (changes.empty()) return Status::OK();
    ChangeBatch batch;
    batch.partition = p;
    batch.changes.reserve(changes.size());
    for (auto& c : changes) {
      batch.changes.push_back({c.change.at, std::move(c.user), c.change.segment, c.change.entered, c.change.pos});
    }
    changes.clear();
    counters_->records_out.fetch_add(batch.changes.size(), std::memory_order_relaxed);
    return counters_->Push(output_, SinkMessage{index_, SinkInput(std::move(batch))});
  };

  uint32_t ends = 0;
  bool finish = true;
  bool has_max = false, has_until = false;
  int64_t max_ts = 0, until = 0;
  while (ends < source_tasks_) {
    if (auto finished = async.Poll()) SEGFLOW_RETURN_IF_ERROR(end_hold(*finished));
    auto reloaded = erasures.Poll();
    if (!reloaded.ok()) return reloaded.status();
    if (*reloaded) SEGFLOW_RETURN_IF_ERROR(apply_erasures("(new ledger record)"));
    // Waits a bounded time, so an idle task still applies erasures (and ends a finished
    // snapshot's hold) without new input.
    auto msg = aligner.NextFor(input_, std::chrono::milliseconds(200));
    if (!msg) {
      if (input_->closed() && input_->size() == 0) {
        return Status::Cancelled("keyed task: input closed before every source ended");
      }
      continue;
    }
    if (aligner.Hold(SourceOf(*msg), *msg)) continue;
    if (auto* barrier = std::get_if<SourceBarrier>(&*msg)) {
      if (aligner.OnBarrier(barrier->source, barrier->id) == BarrierAligner<KeyedInput>::Barrier::kAligned) {
        SEGFLOW_RETURN_IF_ERROR(snapshot(barrier->id));
        aligner.Release();
      }
    } else if (auto* batch = std::get_if<KeyedBatch>(&*msg)) {
      counters_->records_in.fetch_add(batch->records.size(), std::memory_order_relaxed);
      // Users' index entries, slots and states are fetched a few records ahead (the
      // lookups are cache misses at many users; overlapped, they cost one each at most).
      std::vector<KeyedRecord>& records = batch->records;
      const size_t n = records.size();
      for (size_t i = 0; i < n && i < 12; ++i) evaluator.PrefetchIndex(records[i].user_hash);
      for (size_t i = 0; i < n && i < 8; ++i) evaluator.PrefetchSlot(records[i].user_hash);
      for (size_t i = 0; i < n && i < 4; ++i) evaluator.PrefetchState(records[i].user_hash);
      for (size_t i = 0; i < n; ++i) {
        if (i + 12 < n) evaluator.PrefetchIndex(records[i + 12].user_hash);
        if (i + 8 < n) evaluator.PrefetchSlot(records[i + 8].user_hash);
        if (i + 4 < n) evaluator.PrefetchState(records[i + 4].user_hash);
        KeyedRecord& r = records[i];
        if (drop_after_until && r.event.ts > run.until) continue;
        if (erasures.Erased(r.user, r.event.ts)) continue;
        SEGFLOW_RETURN_IF_ERROR(evaluator.AddEvent(r.partition, r.user, r.user_hash, std::move(r.event)));
      }
    } else if (auto* wm = std::get_if<PartitionWatermark>(&*msg)) {
      const uint32_t p = wm->partition;
      topic_wm[p][wm->topic] = std::max(topic_wm[p][wm->topic], wm->time);
      topic_idle[p][wm->topic] = wm->idle;
      int64_t w = *std::min_element(topic_wm[p].begin(), topic_wm[p].end());
      if (capped) w = std::min(w, watermark_cap);
      const bool idle = std::all_of(topic_idle[p].begin(), topic_idle[p].end(), [](bool b) { return b; });
      const bool advanced = w > partition_wm[p];
      if (!advanced && idle == partition_idle[p]) continue;
      partition_idle[p] = idle;
      if (advanced) {
        partition_wm[p] = w;
        SEGFLOW_RETURN_IF_ERROR(evaluator.AdvanceWatermark(p, w, &changes));
        SEGFLOW_RETURN_IF_ERROR(send_changes(p));
      }
      counters_->watermark.store(*std::min_element(partition_wm.begin(), partition_wm.end()),
                                 std::memory_order_relaxed);
      SEGFLOW_RETURN_IF_ERROR(
          counters_->Push(output_, SinkMessage{index_, SinkInput(PartitionProgress{p, partition_wm[p], idle})}));
    } else if (auto* end = std::get_if<SourceEnd>(&*msg)) {
      ++ends;
      if (aligner.OnEnd(end->source)) {
        SEGFLOW_RETURN_IF_ERROR(snapshot(aligner.aligning()));
        aligner.Release();
      }
      finish = finish && end->finish;
      if (end->has_max_ts) {
        max_ts = has_max ? std::max(max_ts, end->max_ts) : end->max_ts;
        has_max = true;
      }
      if (end->has_until) {
        has_until = true;
        until = end->until;
      }
    }
  }

  // The last snapshot (a final or stop-with-savepoint barrier) completes before the end.
  if (async.running()) SEGFLOW_RETURN_IF_ERROR(end_hold(async.Wait()));
  KeyedEnd done;
  if (finish) {
    // Bounded: every instant up to --until, or up to the largest ts any source read
    // (every source's end reaches every keyed task, so all tasks agree on it).
    if (!has_until) until = has_max ? max_ts : kNoTime;
    if (until != kNoTime) {
      SEGFLOW_RETURN_IF_ERROR(evaluator.Finish(until, &changes));
      // Finish spans partitions: route each change to its user's partition.
      std::vector<std::vector<KeyedChange>> by_partition(partitions);
      for (auto& c : changes) by_partition[PartitionFor(HashUser(c.user), partitions)].push_back(std::move(c));
      changes.clear();
      for (uint32_t p = 0; p < partitions; ++p) {
        changes = std::move(by_partition[p]);
        SEGFLOW_RETURN_IF_ERROR(send_changes(p));
      }
    }
    done.finished = until != kNoTime;
    done.evaluated_through = until;
    if (done.finished) counters_->watermark.store(until, std::memory_order_relaxed);
  }
  SEGFLOW_RETURN_IF_ERROR(counters_->Push(output_, SinkMessage{index_, SinkInput(done)}));
  counters_->done.store(true);
  return Status::OK();
}

}  // namespace segflow
