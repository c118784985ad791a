#include "operators/runtime/keyed_segment_task.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/key_group.h"
#include "operators/runtime/barrier_aligner.h"
#include "operators/runtime/keyed_batch.h"
#include "operators/runtime/keyed_bounded_end.h"
#include "operators/runtime/keyed_checkpointing.h"
#include "operators/runtime/keyed_erasure.h"
#include "operators/runtime/keyed_restore.h"
#include "operators/runtime/keyed_sink_output.h"
#include "operators/runtime/keyed_watermarks.h"
#include "operators/segment/cached_user_state_store.h"
#include "operators/segment/keyed_evaluator.h"

namespace segflow {
namespace {

// Fault injection for failure tests: SEGFLOW_FAULT_KEYED_DELAY_MS=N makes a keyed task
// sleep N ms per batch of records it takes in (a deliberately slow keyed task).
std::chrono::milliseconds InjectedKeyedDelay() {
  const char* v = std::getenv("SEGFLOW_FAULT_KEYED_DELAY_MS");
  return std::chrono::milliseconds(v == nullptr ? 0 : std::max(0L, std::strtol(v, nullptr, 10)));
}

}  // namespace

KeyedSegmentTask::KeyedSegmentTask(JobContext* ctx, uint32_t index, uint32_t source_tasks,
                                   BoundedChannel<KeyedInput>* input,
                                   BoundedChannel<SinkMessage>* output, TaskCounters* counters)
    : ctx_(ctx),
      index_(index),
      source_tasks_(source_tasks),
      input_(input),
      output_(output),
      counters_(counters) {}

Status KeyedSegmentTask::Run() {
  const uint32_t partitions = ctx_->partitions;
  CheckpointHooks* hooks = ctx_->checkpoints;
  const bool restoring = hooks != nullptr && !hooks->restore_dir.empty();
  // Keyed state: this subtask's key groups in its own RocksDB, behind a write-back cache.
  const KeyGroupRange range =
      KeyGroupRange::ForSubtask(index_, ctx_->job->max_parallelism, ctx_->keyed_tasks);
  const std::string working = ctx_->options.state_dir + "/keyed-" + std::to_string(index_);
  auto backend = OpenKeyedState(*ctx_, range, working);
  if (!backend.ok()) return backend.status();
  KeyedBoundedEnd end(ctx_->options, hooks);
  KeyedWatermarks watermarks(partitions, static_cast<uint32_t>(ctx_->job->source.topics.size()),
                             end.capped(), end.watermark_cap());
  std::vector<std::vector<SwitchChange>> switched;  // a version switch's changes, by partition
  if (restoring) {
    SEGFLOW_RETURN_IF_ERROR(watermarks.Restore(hooks->restore_dir));
    SEGFLOW_RETURN_IF_ERROR(MigrateRestoredState(*hooks, *ctx_, range, working, backend->get(),
                                                 watermarks.partition_watermarks(), &switched));
  }
  auto store =
      CachedUserStateStore::Open(ctx_->program, backend->get(), ctx_->options.state_cache_entries);
  if (!store.ok()) return store.status();
  CachedUserStateStore* states = store->get();  // owned by the evaluator
  KeyedEvaluator evaluator(ctx_->program, partitions, std::move(*store));
  KeyedSinkOutput sink(index_, output_, counters_);
  // A fresh bounded run evaluates in batch (keyed_batch.h), until a barrier if one comes.
  std::unique_ptr<KeyedBatchMode> batch;
  if (ctx_->options.bounded && ctx_->options.batch && !restoring) {
    batch = std::make_unique<KeyedBatchMode>(*ctx_, index_, working + "-sort",
                                             ctx_->options.sort_memory_bytes);
  }
  // Batch states are kept only where a snapshot or a streaming evaluator may need them
  // (evaluated at a barrier); not at the end.
  UserStateStore* batch_store = hooks != nullptr ? states : nullptr;
  auto batching = [&] { return batch != nullptr && batch->active(); };
  // Whether a checkpoint is a stop-with-savepoint's (the sources stop right after it).
  auto stops_at = [&](uint64_t id) { return hooks != nullptr && hooks->stop_at.load() == id; };
  // Ends batch mode at a snapshot (or a stop): every user evaluated below its partition's
  // watermark, as the streaming evaluator would be, which then takes over from the store
  // unless nothing follows (`then_streaming` false: a stop, or the snapshot it stops at).
  auto end_batch = [&](const KeyedWatermarks& wm, bool then_streaming) -> Status {
    if (!batching()) return Status::OK();
    std::vector<int64_t> last(partitions);
    for (uint32_t p = 0; p < partitions; ++p) {
      const int64_t w = wm.watermark(p);
      last[p] = w == std::numeric_limits<int64_t>::min() ? w : w - 1;
    }
    SEGFLOW_RETURN_IF_ERROR(batch->Evaluate(last, batch_store, &sink));
    if (then_streaming) SEGFLOW_RETURN_IF_ERROR(evaluator.Restore(wm.partition_watermarks()));
    for (uint32_t p = 0; p < partitions; ++p) {
      SEGFLOW_RETURN_IF_ERROR(
          sink.Send(SinkInput(PartitionProgress{p, wm.watermark(p), wm.idle(p)})));
    }
    counters_->watermark.store(wm.Low(), std::memory_order_relaxed);
    return Status::OK();
  };
  // Declared after the backend and the evaluator: destroyed (joined) before them.
  KeyedCheckpointing checkpoints(*ctx_, index_, range, backend->get(), states, output_, counters_);
  KeyedErasures erasures(*ctx_, index_, &evaluator, batch.get());
  SEGFLOW_RETURN_IF_ERROR(
      erasures.Start(restoring, restoring ? hooks->restore_dir : std::string()));
  if (restoring) SEGFLOW_RETURN_IF_ERROR(evaluator.Restore(watermarks.partition_watermarks()));
  // The version switch goes out before anything else (ChangeBatch::switched).
  SEGFLOW_RETURN_IF_ERROR(sink.SendSwitch(&switched));

  const std::chrono::milliseconds injected_delay = InjectedKeyedDelay();
  BarrierAligner<KeyedInput> aligner(source_tasks_);
  std::vector<KeyedChange> changes;
  while (end.ends() < source_tasks_) {
    SEGFLOW_RETURN_IF_ERROR(checkpoints.Poll());
    SEGFLOW_RETURN_IF_ERROR(erasures.Poll());
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
    if (injected_delay.count() > 0 && std::holds_alternative<KeyedBatch>(*msg)) {
      std::this_thread::sleep_for(injected_delay);
    }
    auto* input = std::get_if<KeyedBatch>(&*msg);
    if (input != nullptr) {
      counters_->records_in.fetch_add(input->records.size(), std::memory_order_relaxed);
    }
    if (input != nullptr && batching()) {
      SEGFLOW_RETURN_IF_ERROR(batch->Add(input->records, [&](const KeyedRecord& r) {
        return !end.Drops(r.event.ts) && !erasures.Erased(r.user, r.event.ts);
      }));
    } else if (input != nullptr) {
      // Users' index entries, slots and states are fetched a few records ahead (the
      // lookups are cache misses at many users; overlapped, they cost one each at most).
      std::vector<KeyedRecord>& records = input->records;
      const size_t n = records.size();
      for (size_t i = 0; i < n && i < 12; ++i) evaluator.PrefetchIndex(records[i].user_hash);
      for (size_t i = 0; i < n && i < 8; ++i) evaluator.PrefetchSlot(records[i].user_hash);
      for (size_t i = 0; i < n && i < 4; ++i) evaluator.PrefetchState(records[i].user_hash);
      for (size_t i = 0; i < n; ++i) {
        if (i + 12 < n) evaluator.PrefetchIndex(records[i + 12].user_hash);
        if (i + 8 < n) evaluator.PrefetchSlot(records[i + 8].user_hash);
        if (i + 4 < n) evaluator.PrefetchState(records[i + 4].user_hash);
        KeyedRecord& r = records[i];
        if (end.Drops(r.event.ts)) continue;
        if (erasures.Erased(r.user, r.event.ts)) continue;
        SEGFLOW_RETURN_IF_ERROR(
            evaluator.AddEvent(r.partition, r.user, r.user_hash, std::move(r.event)));
      }
    } else if (auto* wm = std::get_if<PartitionWatermark>(&*msg)) {
      const uint32_t p = wm->partition;
      const KeyedWatermarks::Update update = watermarks.On(*wm);
      if (!update.changed || batching()) continue;
      if (update.advanced) {
        SEGFLOW_RETURN_IF_ERROR(evaluator.AdvanceWatermark(p, watermarks.watermark(p), &changes));
        SEGFLOW_RETURN_IF_ERROR(sink.SendChanges(p, &changes));
      }
      counters_->watermark.store(watermarks.Low(), std::memory_order_relaxed);
      SEGFLOW_RETURN_IF_ERROR(
          sink.Send(SinkInput(PartitionProgress{p, watermarks.watermark(p), watermarks.idle(p)})));
    } else if (auto* barrier = std::get_if<SourceBarrier>(&*msg)) {
      if (aligner.OnBarrier(barrier->source, barrier->id) ==
          BarrierAligner<KeyedInput>::Barrier::kAligned) {
        SEGFLOW_RETURN_IF_ERROR(end_batch(watermarks, !stops_at(barrier->id)));
        SEGFLOW_RETURN_IF_ERROR(checkpoints.Snapshot(barrier->id, watermarks));
        aligner.Release();
      }
    } else if (auto* source_end = std::get_if<SourceEnd>(&*msg)) {
      end.OnSourceEnd(*source_end);
      if (aligner.OnEnd(source_end->source)) {
        SEGFLOW_RETURN_IF_ERROR(end_batch(watermarks, !stops_at(aligner.aligning())));
        SEGFLOW_RETURN_IF_ERROR(checkpoints.Snapshot(aligner.aligning(), watermarks));
        aligner.Release();
      }
    }
  }
  // The last snapshot (a final or stop-with-savepoint barrier) completes before the end.
  SEGFLOW_RETURN_IF_ERROR(checkpoints.Wait());
  // A run that does not finish (stopped) still sends what its watermarks evaluated.
  if (!end.finishes()) SEGFLOW_RETURN_IF_ERROR(end_batch(watermarks, false));
  // A finished batch keeps no states: no snapshot follows the end.
  auto done = end.Finish(partitions, &evaluator, batch.get(), nullptr, &sink, &changes, counters_);
  if (!done.ok()) return done.status();
  SEGFLOW_RETURN_IF_ERROR(sink.Send(SinkInput(*done)));
  counters_->done.store(true);
  return Status::OK();
}

}  // namespace segflow
