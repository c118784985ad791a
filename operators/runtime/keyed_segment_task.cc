#include "operators/runtime/keyed_segment_task.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "operators/segment/cached_user_state_store.h"
#include "operators/segment/keyed_evaluator.h"

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
  auto backend = KeyedStateBackend::Open(
      ctx_->options.state_dir + "/keyed-" + std::to_string(index_),
      KeyGroupRange::ForSubtask(index_, max_parallelism, ctx_->keyed_tasks), state_options);
  if (!backend.ok()) return backend.status();
  auto store = CachedUserStateStore::Open(ctx_->program, backend->get(),
                                          ctx_->options.state_cache_entries);
  if (!store.ok()) return store.status();
  KeyedEvaluator evaluator(ctx_->program, partitions, std::move(*store));

  // Per partition: each topic's watermark and idleness; the partition advances by the min.
  std::vector<std::vector<int64_t>> topic_wm(partitions, std::vector<int64_t>(topics, kNoTime));
  std::vector<std::vector<bool>> topic_idle(partitions, std::vector<bool>(topics, false));
  std::vector<int64_t> partition_wm(partitions, kNoTime);
  std::vector<bool> partition_idle(partitions, false);

  std::vector<KeyedChange> changes;
  auto send_changes = [&](uint32_t p) -> Status {
    if (changes.empty()) return Status::OK();
    ChangeBatch batch;
    batch.partition = p;
    batch.changes.reserve(changes.size());
    for (auto& c : changes) {
      batch.changes.push_back({c.change.at, std::move(c.user), c.change.segment, c.change.entered});
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
    auto msg = input_->Pop();
    if (!msg) return Status::Cancelled("keyed task: input closed before every source ended");
    if (auto* batch = std::get_if<KeyedBatch>(&*msg)) {
      counters_->records_in.fetch_add(batch->records.size(), std::memory_order_relaxed);
      for (auto& r : batch->records) {
        SEGFLOW_RETURN_IF_ERROR(evaluator.AddEvent(r.partition, r.user, r.user_hash, std::move(r.event)));
      }
    } else if (auto* wm = std::get_if<PartitionWatermark>(&*msg)) {
      const uint32_t p = wm->partition;
      topic_wm[p][wm->topic] = std::max(topic_wm[p][wm->topic], wm->time);
      topic_idle[p][wm->topic] = wm->idle;
      const int64_t w = *std::min_element(topic_wm[p].begin(), topic_wm[p].end());
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
