// SourceRestore: where each (topic, partition) of a source task starts — at a restored
// checkpoint's barrier, else at --from (RunOptions::start_offsets), else offset 0 — and
// the end a restored bounded run keeps (the first attempt's, not the log's end now).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "engine/common/status.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/job_context.h"

namespace segflow {

class SourceRestore {
 public:
  // Reads the checkpoint the job restores from (none: every input starts fresh).
  static Result<SourceRestore> Read(const JobContext& ctx);

  struct Start {
    uint64_t offset = 0;
    std::optional<int64_t> max_prev;  // the largest ts read before `offset`
  };
  // Corruption when the restored checkpoint has no position for the input.
  Result<Start> StartOf(uint32_t topic, uint32_t partition) const;
  // Bounded: the end the checkpoint's first attempt saw (nullopt: take the current one;
  // a new job started from a savepoint reads to the log's end now).
  std::optional<uint64_t> RestoredEnd(uint32_t topic, uint32_t partition) const;

 private:
  const JobContext* ctx_ = nullptr;
  std::map<std::pair<uint32_t, uint32_t>, InputCheckpoint> restored_;
};

}  // namespace segflow
