// Attempt: this worker's share of one attempt of a job. It runs the local tasks of the
// plan (operators/runtime/job_graph.h) with local channels between them, an outbox and
// a sender per remote receiving task, and a receive loop per inbound data connection,
// all in one TaskGroup: the first failure anywhere (a task, a lost peer) stops the lot.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/data_roots.h"
#include "engine/common/status.h"
#include "engine/net/connection.h"
#include "engine/runtime/task_group.h"
#include "engine/schema/cluster.capnp.h"
#include "jobs/job_spec.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/job_graph.h"
#include "worker/attempt_plan.h"

namespace segflow::worker {

class Attempt {
 public:
  // A task's checkpoint acknowledgement, to send to the coordinator.
  using AckFn = std::function<void(const AttemptPlan& plan, TaskKind kind, uint32_t index, uint64_t id,
                                   const Status& status, uint64_t bytes)>;
  // `work_dir`: this attempt's private folder under the worker's --dir (keyed state).
  // `roots`: the worker's data roots (outlive the attempt); every path the job names
  // must lie inside them, relative ones resolve against the first. `memory_budget`: the
  // worker's (--memory-budget), shared by this attempt's keyed tasks.
  Attempt(AttemptPlan plan, uint32_t self, std::string work_dir, const DataRoots* roots, AckFn ack = nullptr,
          size_t memory_budget = kDefaultMemoryBudget);
  ~Attempt();
  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  // Parses and compiles the job; on the sink's worker also takes the job lock and resets
  // the outputs. Called before Start (the coordinator deploys only once prepared).
  Status Prepare();
  // Starts the local tasks; `on_done` runs once, on another thread, when they have all ended.
  using DoneFn = std::function<void(const Status& status)>;
  Status Start(DoneFn on_done);

  // Clean stop (live job canceled: sources stop, the sink commits) or abort (failover:
  // everything stops at once, output is discarded by the next attempt).
  void Cancel(bool abort, const std::string& reason);

  // The coordinator triggered checkpoint `id` (local sources emit its barrier; sources
  // that have already ended decline it), or completed it (the sink commits it).
  void TriggerCheckpoint(uint64_t id, bool stop = false);
  void CompleteCheckpoint(uint64_t id);

  // An inbound data connection for a local task: its receive loop joins the group.
  Status AdoptInbound(std::shared_ptr<net::Connection> conn, wire::TaskKind target, uint32_t index,
                      uint32_t producers);

  const AttemptPlan& plan() const { return plan_; }
  // Every local task's counters, as wire TaskMetrics; `init(n)` makes the list.
  void WriteMetrics(std::function<capnp::List<wire::TaskMetrics>::Builder(unsigned)> init) const;
  bool has_sink() const { return local_.sink; }
  // Prepare failed because the job names a path outside the data roots, or a folder
  // Segflow does not own: no later attempt can do better.
  bool refused() const { return refused_; }
  bool started() const {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  const SinkResult& sink_result() const { return sink_result_; }

 private:
  Status SpawnSender(uint32_t to_worker, wire::TaskKind target, uint32_t index, uint32_t producers);

  // The job's paths inside the data roots, and its state and audience folders Segflow's
  // own (or absent/empty); else sets refused_.
  Status CheckPaths();

  AttemptPlan plan_;
  uint32_t self_;
  std::string work_dir_;
  const DataRoots* roots_;
  bool refused_ = false;
  JobSpec job_;
  JobContext ctx_;
  LocalTasks local_;
  std::atomic<bool> stop_{false};
  CheckpointHooks hooks_;
  AckFn ack_;
  size_t memory_budget_;
  std::unique_ptr<PreparedOutputs> outputs_;
  std::unique_ptr<GraphCounters> counters_;
  SinkResult sink_result_;

  std::vector<std::unique_ptr<BoundedChannel<KeyedInput>>> keyed_channels_;  // inboxes and outboxes
  std::unique_ptr<BoundedChannel<SinkMessage>> sink_channel_;
  GraphEndpoints endpoints_;

  mutable std::mutex mu_;
  bool started_ = false;
  bool ended_ = false;
  std::vector<std::shared_ptr<net::Connection>> connections_;  // guarded by mu_
  TaskGroup group_;
  std::thread waiter_;
};

}  // namespace segflow::worker
