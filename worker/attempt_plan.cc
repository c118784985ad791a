#include "worker/attempt_plan.h"

#include <algorithm>

namespace segflow::worker {

Result<AttemptPlan> AttemptPlan::FromWire(wire::AttemptSpec::Reader spec) {
  AttemptPlan plan;
  plan.job_id = spec.getJobId().cStr();
  // The id names this worker's folder for the attempt (<dir>/attempts/<id>-<n>, emptied
  // before use): only a job name's characters, as the coordinator makes ids, so no id can
  // lead out of it.
  if (plan.job_id.empty() || plan.job_id.size() > 200 ||
      !std::all_of(plan.job_id.begin(), plan.job_id.end(),
                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; })) {
    return Status::InvalidArgument("attempt plan: job id '" + plan.job_id.substr(0, 200) +
                                   "' is not 1 to 200 of [a-z0-9_-]");
  }
  plan.attempt = spec.getAttempt();
  plan.job_file = spec.getJobFile().cStr();
  plan.job_text = spec.getJobText().cStr();
  plan.bounded = spec.getBounded();
  plan.has_until = spec.getHasUntil();
  plan.until = spec.getUntil();
  plan.shape.partitions = spec.getPartitions();
  plan.shape.sources = spec.getSources();
  plan.shape.keyed = spec.getKeyed();
  plan.state_dir = spec.getStateDir().cStr();
  plan.checkpoint_dir = spec.getCheckpointDir().cStr();
  plan.restore_from = spec.getRestoreFrom().cStr();
  plan.restore_id = spec.getRestoreId();
  plan.restore_is_savepoint = spec.getRestoreIsSavepoint();
  plan.merge_from = spec.getMergeFrom();
  plan.transactional = spec.getTransactional();
  plan.end_with_savepoint = spec.getEndWithSavepoint();
  plan.streaming = spec.getStreaming();
  for (auto so : spec.getStartOffsets()) plan.start_offsets[{so.getTopic(), so.getPartition()}] = so.getOffset();
  for (auto eo : spec.getEndOffsets()) plan.end_offsets[{eo.getTopic(), eo.getPartition()}] = eo.getOffset();
  if (plan.shape.sources == 0 || plan.shape.keyed == 0 || plan.shape.partitions == 0) {
    return Status::InvalidArgument("attempt " + plan.Name() + ": empty graph");
  }
  // Every task needs a placement, so a plan names at most as many tasks as it has
  // placements: checked before sizing anything by the counts (a fuzzed Prepare of a few
  // hundred bytes named 2^31 sources and made the worker allocate 7.5 GB).
  const size_t placed = spec.getPlacements().size();
  if (plan.shape.sources > placed || plan.shape.keyed > placed) {
    return Status::InvalidArgument("attempt " + plan.Name() + ": " + std::to_string(plan.shape.sources) + " source and " +
                                   std::to_string(plan.shape.keyed) + " keyed tasks for " + std::to_string(placed) +
                                   " placements");
  }
  for (auto w : spec.getWorkers()) {
    plan.workers[w.getWorkerId()] = net::HostPort{w.getHost().cStr(), w.getPort()};
  }
  constexpr uint32_t kUnset = UINT32_MAX;
  plan.source_worker.assign(plan.shape.sources, kUnset);
  plan.keyed_worker.assign(plan.shape.keyed, kUnset);
  plan.sink_worker = kUnset;
  for (auto p : spec.getPlacements()) {
    if (!plan.workers.count(p.getWorker())) {
      return Status::InvalidArgument("attempt " + plan.Name() + ": task placed on unknown worker " +
                                     std::to_string(p.getWorker()));
    }
    switch (p.getKind()) {
      case wire::TaskKind::SOURCE:
        if (p.getIndex() < plan.shape.sources) plan.source_worker[p.getIndex()] = p.getWorker();
        break;
      case wire::TaskKind::KEYED:
        if (p.getIndex() < plan.shape.keyed) plan.keyed_worker[p.getIndex()] = p.getWorker();
        break;
      case wire::TaskKind::SINK:
        plan.sink_worker = p.getWorker();
        break;
    }
  }
  for (uint32_t w : plan.source_worker) {
    if (w == kUnset) return Status::InvalidArgument("attempt " + plan.Name() + ": a source task has no worker");
  }
  for (uint32_t w : plan.keyed_worker) {
    if (w == kUnset) return Status::InvalidArgument("attempt " + plan.Name() + ": a keyed task has no worker");
  }
  if (plan.sink_worker == kUnset) return Status::InvalidArgument("attempt " + plan.Name() + ": the sink has no worker");
  return plan;
}

}  // namespace segflow::worker
