#include "operators/runtime/local_job_runner.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/runtime/task_group.h"
#include "operators/runtime/job_graph.h"

namespace segflow {

Status RunJobLocally(const JobSpec& job, RunOptions options, std::atomic<bool>* stop, RunReport* report) {
  const auto started = std::chrono::steady_clock::now();
  auto program = SegmentProgram::Compile(job);
  if (!program.ok()) return program.status();
  if (options.state_dir.empty()) options.state_dir = DefaultStateDir(job);
  auto shape = PlanGraph(job);
  if (!shape.ok()) return shape.status();

  JobContext ctx;
  ctx.job = &job;
  ctx.program = *program;
  ctx.options = options;
  ctx.keyed_tasks = shape->keyed;
  ctx.partitions = shape->partitions;
  ctx.late_topic = LateTopic(job);
  ctx.stop = stop;

  auto outputs = PreparedOutputs::Prepare(job, options.state_dir, shape->partitions);
  if (!outputs.ok()) return outputs.status();

  // Every task of the graph in this process: each endpoint is the task's own input.
  std::vector<std::unique_ptr<BoundedChannel<KeyedInput>>> keyed_in;
  GraphEndpoints endpoints;
  for (uint32_t k = 0; k < shape->keyed; ++k) {
    keyed_in.push_back(std::make_unique<BoundedChannel<KeyedInput>>(kKeyedChannelCapacity));
    endpoints.keyed.push_back(keyed_in.back().get());
  }
  BoundedChannel<SinkMessage> sink_in(kSinkChannelCapacity);
  endpoints.sink = &sink_in;

  GraphCounters counters(*shape);
  SinkResult sink_result;
  {
    TaskGroup group;
    for (auto& c : keyed_in) group.CloseOnCancel(c.get());
    group.CloseOnCancel(&sink_in);
    SpawnGraphTasks(&group, &ctx, *shape, LocalTasks::All(*shape), endpoints, &counters, &sink_result);
    SEGFLOW_RETURN_IF_ERROR(group.Join());
  }

  report->records_in = ctx.records_in.load();
  report->late_records = ctx.late_records.load();
  report->rejected_records = ctx.rejected_records.load();
  report->entered = sink_result.entered;
  report->exited = sink_result.exited;
  report->finished = sink_result.finished;
  report->has_evaluated = sink_result.has_evaluated;
  report->evaluated_through = sink_result.evaluated_through;
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return Status::OK();
}

}  // namespace segflow
