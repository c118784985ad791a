// The tasks of a segment job's execution graph (jobs/execution_graph.h), shared by the
// in-process run and the cluster (ARCHITECTURE.md invariant 4: the same graph with
// different channels). A process runs any subset of the tasks (LocalTasks); GraphEndpoints
// says where a task pushes to reach keyed task k or the sink: the task's own input
// channel when it runs here, or an outbox that the network layer drains to its worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/runtime/channel.h"
#include "engine/runtime/task_group.h"
#include "jobs/execution_graph.h"
#include "jobs/job_spec.h"
#include "operators/runtime/changelog_sink_task.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/messages.h"
#include "operators/runtime/task_counters.h"

namespace segflow {

// Channel capacities in elements (a batch is up to 1024 records): bounded memory.
constexpr size_t kKeyedChannelCapacity = 16;
constexpr size_t kSinkChannelCapacity = 64;

// Holds the job's lock ("<state dir>.lock", so two runs of one job never overlap, in one
// process or across a cluster) after preparing its outputs, by whoever runs the sink,
// before any task starts:
//  * fresh: the changelog and late topics, audience store (with its frozen versions,
//    operators/sink/audience_versions.h) and `state_dir` are reset; a
//    transactional changelog starts with an empty commit marker (nothing visible);
//  * restoring from a checkpoint: the changelog and late topics are truncated back to the
//    checkpoint (aborting what a failed attempt wrote after it), the commit marker is the
//    checkpoint's, and the audience store is rebuilt from the committed changelog
//    (labelled with the versions of the job file that wrote the checkpoint; frozen
//    versions are kept).
class PreparedOutputs {
 public:
  static Result<std::unique_ptr<PreparedOutputs>> Prepare(const JobSpec& job, const std::string& state_dir,
                                                         uint32_t partitions,
                                                         const CheckpointHooks* checkpoints = nullptr);
  ~PreparedOutputs();
  PreparedOutputs(const PreparedOutputs&) = delete;
  PreparedOutputs& operator=(const PreparedOutputs&) = delete;

 private:
  explicit PreparedOutputs(int fd) : lock_fd_(fd) {}
  int lock_fd_;
};

// The late topic of a job: "<job>.late".
std::string LateTopic(const JobSpec& job);
// The rejected topic of a job with a Kafka source: "<job>.rejected" (spec integrations §10.1).
std::string RejectedTopic(const JobSpec& job);

struct LocalTasks {
  std::vector<uint32_t> sources;
  std::vector<uint32_t> keyed;
  bool sink = false;
  static LocalTasks All(const GraphShape& shape);
};

struct GraphEndpoints {
  std::vector<BoundedChannel<KeyedInput>*> keyed;  // [k]: push here to reach keyed task k
  BoundedChannel<SinkMessage>* sink = nullptr;
};

// Counters of every task of the graph (only the local ones move).
struct GraphCounters {
  explicit GraphCounters(const GraphShape& shape);
  std::vector<std::unique_ptr<TaskCounters>> sources;
  std::vector<std::unique_ptr<TaskCounters>> keyed;
  TaskCounters sink;
};

// Starts the local tasks in `group`. Everything passed must outlive group.Join().
// A local keyed task pops endpoints.keyed[k]; a local sink pops endpoints.sink.
void SpawnGraphTasks(TaskGroup* group, JobContext* ctx, const GraphShape& shape, const LocalTasks& local,
                     const GraphEndpoints& endpoints, GraphCounters* counters, SinkResult* sink_result);

}  // namespace segflow
