// A source task's event-time progress (spec §2): per input, a watermark of the largest ts
// read minus the out-of-orderness, and whether it is idle (SourceInput::Polled); each
// change goes to every keyed task, after the records it covers.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/source_input.h"
#include "operators/runtime/source_outputs.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

// Sends the watermark of every dirty input of source task `source` (the batches sent
// first) and updates the task's reported low watermark.
Status EmitWatermarks(std::vector<SourceInput>& inputs, int64_t out_of_orderness, uint32_t source,
                      SourceOutputs* keyed, TaskCounters* counters);

}  // namespace segflow
