// SourceOutputs: a source task's way to the keyed tasks. Records are batched per keyed task
// (sent at kBatchRecords, or on Flush); control elements (watermarks, barriers, the end)
// go to every keyed task, after the caller flushed the batches they must follow.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/common/status.h"
#include "engine/runtime/channel.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

class SourceOutputs {
 public:
  static constexpr size_t kBatchRecords = 1024;

  // `outputs[k]` reaches keyed task k (a local channel, or an outbox to the network).
  SourceOutputs(uint32_t source, uint32_t max_parallelism,
                const std::vector<BoundedChannel<KeyedInput>*>& outputs, TaskCounters* counters)
      : source_(source),
        max_parallelism_(max_parallelism),
        outputs_(outputs),
        counters_(counters),
        batches_(outputs.size()) {
    for (auto& b : batches_) b.source = source;
  }

  // The keyed task that owns the user of hash `user_hash` (its key group's).
  uint32_t TaskFor(uint64_t user_hash) const {
    return SubtaskForKeyGroup(KeyGroupFor(user_hash, max_parallelism_), max_parallelism_,
                              static_cast<uint32_t>(outputs_.size()));
  }
  // Appends to keyed task k's batch; true when the batch is full (Flush(k) it).
  bool Add(uint32_t k, KeyedRecord&& record) {
    batches_[k].records.push_back(std::move(record));
    return batches_[k].records.size() >= kBatchRecords;
  }
  // Sends keyed task k's batch, if it has records.
  Status Flush(uint32_t k);
  Status FlushAll() {
    for (uint32_t k = 0; k < outputs_.size(); ++k) SEGFLOW_RETURN_IF_ERROR(Flush(k));
    return Status::OK();
  }
  // Sends `element` to every keyed task.
  template <typename T>
  Status Broadcast(const T& element) {
    for (uint32_t k = 0; k < outputs_.size(); ++k) {
      SEGFLOW_RETURN_IF_ERROR(counters_->Push(outputs_[k], KeyedInput(element)));
    }
    return Status::OK();
  }

 private:
  const uint32_t source_;
  const uint32_t max_parallelism_;
  const std::vector<BoundedChannel<KeyedInput>*>& outputs_;
  TaskCounters* counters_;
  std::vector<KeyedBatch> batches_;
};

}  // namespace segflow
