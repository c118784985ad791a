// ChangelogSinkTask: the job's single output writer. Merges the keyed tasks' changes into
// the changelog topic (one partition per input partition, records in `at` order, identical
// across parallelism and run modes) and applies them to the audience store together with
// the job's evaluated time.
//
// Run is the task loop; each concern has its own file: changelog_release (the merge and
// the changelog writes), sink_restore, sink_version_switch, sink_checkpointing,
// sink_commit (commits, transactions), sink_audience (the stores), sink_committers
// (PostgreSQL, Kafka), sink_erasure.
#pragma once

#include <cstdint>

#include "engine/common/status.h"
#include "engine/runtime/channel.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

struct SinkResult {
  uint64_t entered = 0;
  uint64_t exited = 0;
  bool finished = false;           // a bounded run evaluated to its end
  bool has_evaluated = false;
  int64_t evaluated_through = 0;
};

class ChangelogSinkTask {
 public:
  ChangelogSinkTask(JobContext* ctx, BoundedChannel<SinkMessage>* input, SinkResult* result,
                    TaskCounters* counters);
  Status Run();

 private:
  JobContext* ctx_;
  BoundedChannel<SinkMessage>* input_;
  SinkResult* result_;
  TaskCounters* counters_;
};

}  // namespace segflow
