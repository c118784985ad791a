#include "operators/runtime/keyed_bounded_end.h"

#include <algorithm>
#include <utility>

#include "engine/common/key_group.h"

namespace segflow {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

}  // namespace

void KeyedBoundedEnd::OnSourceEnd(const SourceEnd& end) {
  ++ends_;
  finish_ = finish_ && end.finish;
  if (end.has_max_ts) {
    max_ts_ = has_max_ ? std::max(max_ts_, end.max_ts) : end.max_ts;
    has_max_ = true;
  }
  if (end.has_until) {
    has_until_ = true;
    end_until_ = end.until;
  }
}

Result<KeyedEnd> KeyedBoundedEnd::Finish(uint32_t partitions, KeyedEvaluator* evaluator,
                                         KeyedBatchMode* batch, UserStateStore* batch_store,
                                         KeyedSinkOutput* sink, std::vector<KeyedChange>* changes,
                                         TaskCounters* counters) {
  KeyedEnd done;
  if (!finish_) return done;
  int64_t until = end_until_;
  if (!has_until_) until = has_max_ ? max_ts_ : kNoTime;
  if (until != kNoTime && batch != nullptr && batch->active()) {
    SEGFLOW_RETURN_IF_ERROR(
        batch->Evaluate(std::vector<int64_t>(partitions, until), batch_store, sink));
  } else if (until != kNoTime) {
    SEGFLOW_RETURN_IF_ERROR(evaluator->Finish(until, changes));
    // Finish spans partitions: route each change to its user's partition.
    std::vector<std::vector<KeyedChange>> by_partition(partitions);
    for (auto& c : *changes) {
      by_partition[PartitionFor(HashUser(c.user), partitions)].push_back(std::move(c));
    }
    changes->clear();
    for (uint32_t p = 0; p < partitions; ++p) {
      *changes = std::move(by_partition[p]);
      SEGFLOW_RETURN_IF_ERROR(sink->SendChanges(p, changes));
    }
  }
  done.finished = until != kNoTime;
  done.evaluated_through = until;
  if (done.finished) counters->watermark.store(until, std::memory_order_relaxed);
  return done;
}

}  // namespace segflow
