// KeyedBoundedEnd: how a keyed task's run ends. Bounded with --until T, no instant after T
// is evaluated whatever the watermarks say, and events after T are dropped (they cannot
// change an instant <= T) unless the run ends with a savepoint a live job continues from.
// Once every source has ended, a finished bounded run evaluates through --until or the
// largest ts any source read (every source's end reaches every keyed task: all agree).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/keyed_batch.h"
#include "operators/runtime/keyed_sink_output.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"
#include "operators/segment/keyed_evaluator.h"

namespace segflow {

class KeyedBoundedEnd {
 public:
  KeyedBoundedEnd(const RunOptions& run, const CheckpointHooks* hooks)
      : until_(run.until),
        capped_(run.bounded && run.has_until),
        drop_after_until_(capped_ && (hooks == nullptr || !hooks->end_with_savepoint)) {}

  // Partitions' watermarks stop at --until + 1 (instants < W are evaluated at W).
  bool capped() const { return capped_; }
  int64_t watermark_cap() const {
    return until_ == std::numeric_limits<int64_t>::max() ? until_ : until_ + 1;
  }
  // Whether an event at `ts` is dropped (after --until).
  bool Drops(int64_t ts) const { return drop_after_until_ && ts > until_; }

  void OnSourceEnd(const SourceEnd& end);
  uint32_t ends() const { return ends_; }
  // Whether the ended run evaluates through its end (false: it was stopped).
  bool finishes() const { return finish_; }

  // After every source's end: a finished run's last changes go out, and what to tell the
  // sink. `changes` is scratch space. A batch still active evaluates the run instead of
  // `evaluator` (its states go to `batch_store`, if given).
  Result<KeyedEnd> Finish(uint32_t partitions, KeyedEvaluator* evaluator, KeyedBatchMode* batch,
                          UserStateStore* batch_store, KeyedSinkOutput* sink,
                          std::vector<KeyedChange>* changes, TaskCounters* counters);

 private:
  const int64_t until_;
  const bool capped_;
  const bool drop_after_until_;
  uint32_t ends_ = 0;
  bool finish_ = true;
  bool has_max_ = false, has_until_ = false;
  int64_t max_ts_ = 0, end_until_ = 0;
};

}  // namespace segflow
