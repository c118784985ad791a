// Attempts: placing a job on worker slots, preparing and deploying it, following it to
// its end, failing and restarting it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "coordinator/coordinator_impl.h"

namespace segflow::coordinator {
namespace {

// An attempt's error on a worker that only follows from another worker's attempt ending
// (a canceled task, a data connection its peer closed or refused): the peer's own error
// is the cause to report.
bool IsPeerFallout(const std::string& error) {
  for (const char* mark : {"cancelled: ", "connection closed by ", "closed mid-frame", "refused data",
                           "Connection reset by peer", "Broken pipe"}) {
    if (error.find(mark) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

void Coordinator::Impl::FillSpec(const JobEntry& job, wire::AttemptSpec::Builder spec) {
  spec.setJobId(job.id);
  spec.setAttempt(job.attempt);
  spec.setJobFile(job.file);
  spec.setJobText(job.text);
  spec.setBounded(job.bounded);
  spec.setStreaming(job.streaming);
  spec.setHasUntil(job.has_until);
  spec.setUntil(job.until);
  spec.setPartitions(job.shape.partitions);
  spec.setSources(job.shape.sources);
  spec.setKeyed(job.shape.keyed);
  spec.setStateDir(job.state_dir);
  if (job.checkpointing) {
    spec.setCheckpointDir(job.checkpoint_root);
    spec.setTransactional(true);
    spec.setRestoreFrom(job.restored_from);
    const bool from_savepoint = !job.restored_from.empty() && job.restored_from == job.initial_restore;
    spec.setRestoreIsSavepoint(from_savepoint);
    // The merge happens only from the savepoints; its own checkpoints hold merged state.
    if (from_savepoint) spec.setMergeFrom(job.merge_from);
    spec.setRestoreId(job.restored_id);
    spec.setEndWithSavepoint(job.end_with_savepoint);
  }
  SetPartitionOffsets(job.start_offsets, spec.initStartOffsets(static_cast<unsigned>(job.start_offsets.size())));
  SetPartitionOffsets(job.end_offsets, spec.initEndOffsets(static_cast<unsigned>(job.end_offsets.size())));
  auto placements = spec.initPlacements(job.shape.sources + job.shape.keyed + 1);
  unsigned i = 0;
  for (uint32_t s = 0; s < job.shape.sources; ++s) {
    placements[i].setKind(wire::TaskKind::SOURCE);
    placements[i].setIndex(s);
    placements[i++].setWorker(job.source_worker[s]);
  }
  for (uint32_t k = 0; k < job.shape.keyed; ++k) {
    placements[i].setKind(wire::TaskKind::KEYED);
    placements[i].setIndex(k);
    placements[i++].setWorker(job.keyed_worker[k]);
  }
  placements[i].setKind(wire::TaskKind::SINK);
  placements[i].setIndex(0);
  placements[i].setWorker(job.sink_worker);
  auto addrs = spec.initWorkers(static_cast<unsigned>(job.slots_held.size()));
  unsigned a = 0;
  for (const auto& [wid, n] : job.slots_held) {
    const WorkerEntry& w = workers_.at(wid);
    addrs[a].setWorkerId(wid);
    addrs[a].setHost(w.host);
    addrs[a++].setPort(w.port);
  }
}

void Coordinator::Impl::TrySchedule(JobEntry& job) {
  const auto now = Clock::now();
  std::vector<uint32_t> ids;
  uint32_t free_total = 0;
  for (auto& [id, w] : workers_) {
    if (!w.alive || w.used >= w.slots) continue;
    ids.push_back(id);
    free_total += w.slots - w.used;
  }
  const uint32_t need = job.shape.keyed;
  if (free_total < need) {
    job.reason = "waiting for " + std::to_string(need) + " free slot(s); the cluster has " +
                 std::to_string(free_total) + " (start more workers, or give them more --slots)";
    if (now - job.waiting_since >= options_.slot_wait) {
      EndJob(job, wire::JobState::FAILED,
             "not enough slots: the job needs " + std::to_string(need) + " (its parallelism), the cluster had " +
                 std::to_string(free_total) + " free for " + std::to_string(options_.slot_wait.count() / 1000) + " s");
    }
    return;
  }
  // Spread keyed tasks round-robin over the workers with free slots; source s runs
  // beside keyed task s, the sink beside keyed task 0.
  std::map<uint32_t, uint32_t> free;
  for (uint32_t id : ids) free[id] = workers_[id].slots - workers_[id].used;
  std::vector<uint32_t> order;
  while (order.size() < need) {
    for (uint32_t id : ids) {
      if (order.size() < need && free[id] > 0) {
        order.push_back(id);
        --free[id];
      }
    }
  }
  job.attempt++;
  job.pending_checkpoint.reset();
  job.restored_from.clear();
  job.restored_id = 0;
  if (job.checkpointing) {
    if (auto point = RestorePoint(job)) {
      job.restored_from = point->path;
      job.restored_id = point->id;
    } else if (!job.initial_restore.empty()) {
      job.restored_from = job.initial_restore;
      job.restored_id = job.initial_restore_id;
    }
  }
  ReadRestoredEvaluated(job);
  job.last_trigger = Clock::now();
  job.keyed_worker = order;
  job.source_worker.assign(order.begin(), order.begin() + job.shape.sources);
  job.sink_worker = order[0];
  job.slots_held.clear();
  for (uint32_t id : order) {
    job.slots_held[id]++;
    workers_[id].used++;
  }
  job.pending_done.clear();
  job.tasks.clear();
  job.failing = false;
  job.failure.clear();
  job.has_result = false;
  job.deployed = false;
  job.preparing = true;
  job.prepare_deadline = Clock::now() + options_.prepare_timeout;
  job.state = wire::JobState::SCHEDULING;
  job.reason = "attempt " + std::to_string(job.attempt) + ": preparing outputs on worker " +
               std::to_string(job.sink_worker);
  Persist(job);
  capnp::MallocMessageBuilder msg;
  FillSpec(job, msg.initRoot<wire::ControlMessage>().initPrepare().initSpec());
  SendToWorker(job.sink_worker, msg);
}

void Coordinator::Impl::OnPrepared(uint32_t worker, wire::AttemptPrepared::Reader p) {
  auto it = jobs_.find(p.getJobId().cStr());
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (job.attempt != p.getAttempt() || !job.preparing || worker != job.sink_worker) return;
  job.preparing = false;
  if (!p.getOk()) {
    job.refused = job.refused || p.getRefused();
    FailAttempt(job, std::string("preparing outputs failed: ") + p.getError().cStr());
    AttemptEnded(job);
    return;
  }
  job.deployed = true;
  for (const auto& [wid, n] : job.slots_held) job.pending_done.insert(wid);
  capnp::MallocMessageBuilder msg;
  FillSpec(job, msg.initRoot<wire::ControlMessage>().initDeploy().initSpec());
  for (const auto& [wid, n] : job.slots_held) SendToWorker(wid, msg);
  if (job.cancel_requested) {
    job.state = wire::JobState::CANCELING;
    for (uint32_t wid : job.pending_done) SendCancel(job, wid, false);
  } else {
    job.state = wire::JobState::RUNNING;
    job.reason.clear();
  }
}

void Coordinator::Impl::OnDone(uint32_t worker, wire::AttemptDone::Reader d) {
  auto it = jobs_.find(d.getJobId().cStr());
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (job.attempt != d.getAttempt() || !job.deployed || !job.pending_done.count(worker)) return;
  // As for reports (coordinator.cc): a task list longer than the job's is not walked.
  const auto tasks = d.getTasks();  // read once: each read counts against the traversal limit
  const bool listable = tasks.size() <= job.TaskCount();
  if (!listable) {
    RejectFromWorker(worker, "a completion listing " + std::to_string(tasks.size()) + " tasks for " + job.id +
                                 ", which has " + std::to_string(job.TaskCount()));
  }
  for (auto m : tasks) {
    if (!listable) break;
    if (job.PlacedOn(m.getKind(), m.getIndex()) != worker) continue;  // not its task: ignored
    TaskSnapshot t = SnapshotOf(m);
    job.tasks[{static_cast<int>(t.kind), t.index}] = std::move(t);
  }
  if (d.getHasSink() && worker == job.sink_worker) {
    job.has_result = true;
    job.finished = d.getFinished();
    job.has_evaluated = d.getHasEvaluated();
    job.evaluated_through = d.getEvaluatedThrough();
    job.entered = d.getEntered();
    job.exited = d.getExited();
  }
  job.pending_done.erase(worker);
  if (!d.getOk()) {
    job.refused = job.refused || d.getRefused();
    const std::string error = d.getError().cStr();
    const std::string reason = "worker " + std::to_string(worker) + ": " + error;
    if (!job.failing) {
      FailAttempt(job, reason);
    } else if (IsPeerFallout(job.failure) && !IsPeerFallout(error)) {
      // Fallout reached us first: the cause, from the worker where it happened, replaces it.
      job.failure = reason;
      job.last_failure = "attempt " + std::to_string(job.attempt) + ": " + reason;
      if (!job.cancel_requested) job.reason = reason;
      if (!job.restored_from.empty() && reason.find(job.restored_from) != std::string::npos) {
        job.bad_checkpoints.insert(job.restored_id);
      }
    }
  }
  if (job.pending_done.empty()) AttemptEnded(job);
}

void Coordinator::Impl::FailAttempt(JobEntry& job, const std::string& reason) {
  if (job.failing) return;
  job.failing = true;
  job.failure = reason;
  job.last_failure = "attempt " + std::to_string(job.attempt) + ": " + reason;
  if (job.pending_checkpoint) AbandonCheckpoint(job, "attempt failed");
  // An attempt that could not read its checkpoint: the next one starts from an older one.
  if (!job.restored_from.empty() && reason.find(job.restored_from) != std::string::npos) {
    job.bad_checkpoints.insert(job.restored_id);
    job.last_failure += " (checkpoint " + std::to_string(job.restored_id) + " is unusable; the next attempt starts from an older one)";
  }
  job.abort_deadline = Clock::now() + options_.heartbeat_timeout * 2;
  if (!job.cancel_requested) {
    job.state = wire::JobState::RESTARTING;
    job.reason = reason;
  }
  for (uint32_t wid : job.pending_done) SendCancel(job, wid, true);
}

void Coordinator::Impl::AttemptEnded(JobEntry& job) {
  for (const auto& [wid, n] : job.slots_held) {
    auto w = workers_.find(wid);
    if (w != workers_.end()) w->second.used -= std::min(w->second.used, n);
  }
  job.slots_held.clear();
  job.deployed = false;
  job.preparing = false;
  if (job.cancel_requested) {
    EndJob(job, wire::JobState::CANCELED, "canceled by the user");
  } else if (job.stopped_with_savepoint && !job.failing) {
    EndJob(job, wire::JobState::FINISHED, "stopped with savepoint " + job.last_savepoint);
  } else if (job.failing && job.refused) {
    EndJob(job, wire::JobState::FAILED, job.failure + " (refused by the worker; not restarted)");
  } else if (job.failing) {
    if (job.restarts < options_.max_restarts) {
      job.restarts++;
      job.state = wire::JobState::RESTARTING;
      job.reason = "attempt " + std::to_string(job.attempt) + " failed (" + job.failure + "); restarting from the " +
                   "beginning of the log (restart " + std::to_string(job.restarts) + " of at most " +
                   std::to_string(options_.max_restarts) + ")";
      job.restart_at = Clock::now() + options_.restart_delay;
      job.waiting_since = job.restart_at;
      Persist(job);
    } else {
      EndJob(job, wire::JobState::FAILED,
             job.failure + " (gave up after " + std::to_string(job.restarts) + " restart(s))");
    }
  } else if (job.bounded && !(job.has_result && job.finished)) {
    EndJob(job, wire::JobState::FAILED, "the tasks ended before the bounded input was evaluated");
  } else {
    EndJob(job, job.bounded ? wire::JobState::FINISHED : wire::JobState::CANCELED,
           job.bounded ? "" : "stopped");
  }
  cv_.notify_all();
}

void Coordinator::Impl::EndJob(JobEntry& job, wire::JobState state, const std::string& reason) {
  job.state = state;
  job.reason = reason;
  job.ended_ms = NowMs();
  Persist(job);
  cv_.notify_all();
}


}  // namespace segflow::coordinator
