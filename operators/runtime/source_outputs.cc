#include "operators/runtime/source_outputs.h"

#include <utility>

namespace segflow {

Status SourceOutputs::Flush(uint32_t k) {
  if (batches_[k].records.empty()) return Status::OK();
  KeyedBatch b;
  b.source = source_;
  b.records.reserve(kBatchRecords);
  std::swap(b, batches_[k]);
  counters_->records_out.fetch_add(b.records.size(), std::memory_order_relaxed);
  return counters_->Push(outputs_[k], KeyedInput(std::move(b)));
}

}  // namespace segflow
