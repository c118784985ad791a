#include "operators/runtime/source_watermarks.h"

#include <algorithm>
#include <limits>

namespace segflow {

Status EmitWatermarks(std::vector<SourceInput>& inputs, int64_t out_of_orderness, uint32_t source,
                      SourceOutputs* keyed, TaskCounters* counters) {
  bool any_dirty = false;
  for (auto& in : inputs) {
    if (!in.watermark_dirty) continue;
    in.watermark_dirty = false;
    any_dirty = true;
    PartitionWatermark wm{in.topic, in.partition, WatermarkOf(in.max_prev, out_of_orderness),
                          in.idle, source};
    in.counters->watermark.store(wm.time, std::memory_order_relaxed);
    SEGFLOW_RETURN_IF_ERROR(keyed->Broadcast(wm));
  }
  if (any_dirty) {
    int64_t low = std::numeric_limits<int64_t>::max();
    for (auto& in : inputs) low = std::min(low, WatermarkOf(in.max_prev, out_of_orderness));
    counters->watermark.store(inputs.empty() ? kNoSourceTime : low, std::memory_order_relaxed);
  }
  return Status::OK();
}

}  // namespace segflow
