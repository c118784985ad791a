// SourceInput: one (topic, partition) a source task reads, through a split reader of the
// job's source connector, with its event-time progress (spec §2), its idleness and,
// bounded, its end.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "connectors/source_connector.h"
#include "engine/common/status.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/source_restore.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

constexpr int64_t kNoSourceTime = std::numeric_limits<int64_t>::min();

struct SourceInput {
  uint32_t topic = 0;
  uint32_t partition = 0;
  std::unique_ptr<SplitReader> reader;  // a split of the job's source connector
  uint64_t end_offset = 0;              // bounded: stop here
  int64_t max_prev = kNoSourceTime;     // largest ts read so far (spec §2)
  bool done = false;
  bool watermark_dirty = false;
  bool idle = false;
  std::chrono::steady_clock::time_point last_record;
  PartitionCounters* counters = nullptr;

  // Polls up to one batch of records (bounded: never past the end offset's count).
  Result<size_t> Poll(bool bounded, std::vector<log::LogRecord>* records,
                      std::vector<RejectedRecord>* rejects);
  // After a poll that read `read` records at `now`: the reported offset; a reading input
  // is active, a live one silent for `idle_timeout` turns idle (either change marks its
  // watermark dirty); a bounded one at its end offset is done.
  void Polled(size_t read, std::chrono::steady_clock::time_point now, bool bounded,
              std::chrono::milliseconds idle_timeout) {
    counters->offset.store(reader->position(), std::memory_order_relaxed);
    if (read > 0) {
      last_record = now;
      if (idle) {
        idle = false;
        watermark_dirty = true;
      }
    } else if (!bounded && !idle && now - last_record >= idle_timeout) {
      idle = true;
      watermark_dirty = true;
    }
    if (bounded && reader->position() >= end_offset) done = true;
  }
  // Bounded: drops records past the end offset, and fails when a reader that returns every
  // record at once (`immediate`) returned none before the end (`read` = 0).
  Status ClampToEnd(size_t read, bool immediate, const std::string& topic_name,
                    std::vector<log::LogRecord>* records) const;
};

inline int64_t WatermarkOf(int64_t max_prev, int64_t out_of_orderness) {
  if (max_prev == kNoSourceTime) return kNoSourceTime;
  return max_prev - out_of_orderness;  // ts and ooo are far from the int64 limits
}

// Opens source task `index`'s inputs (every source topic's partitions index, index +
// source_tasks, ...) where `restore` starts them; `max_ts` takes the restored largest ts.
// Each input's counters are added to `counters` with its start offset.
Result<std::vector<SourceInput>> OpenSourceInputs(const JobContext& ctx, uint32_t index,
                                                  uint32_t source_tasks,
                                                  const SourceRestore& restore,
                                                  SourceConnector& connector,
                                                  TaskCounters* counters, int64_t* max_ts);

}  // namespace segflow
