#include "coordinator/status_json.h"

namespace segflow::coordinator {
namespace {

nlohmann::json OptionalTime(bool has, int64_t ms) {
  return has ? nlohmann::json(ms) : nlohmann::json(nullptr);
}

}  // namespace

const char* UpgradePhaseText(wire::UpgradePhase phase) {
  switch (phase) {
    case wire::UpgradePhase::BACKFILL:
      return "backfill";
    case wire::UpgradePhase::STOPPING_LIVE:
      return "stopping-live";
    case wire::UpgradePhase::FINAL_BACKFILL:
      return "final-backfill";
    case wire::UpgradePhase::SWITCHING:
      return "switching";
    case wire::UpgradePhase::DONE:
      return "done";
    case wire::UpgradePhase::FAILED:
      return "failed";
  }
  return "?";
}

const char* JobStateText(wire::JobState state) {
  switch (state) {
    case wire::JobState::SCHEDULING:
      return "scheduling";
    case wire::JobState::RUNNING:
      return "running";
    case wire::JobState::RESTARTING:
      return "restarting";
    case wire::JobState::FINISHED:
      return "finished";
    case wire::JobState::FAILED:
      return "failed";
    case wire::JobState::CANCELED:
      return "canceled";
    case wire::JobState::CANCELING:
      return "canceling";
  }
  return "?";
}

const char* TaskKindText(wire::TaskKind kind) {
  switch (kind) {
    case wire::TaskKind::SOURCE:
      return "source";
    case wire::TaskKind::KEYED:
      return "keyed";
    case wire::TaskKind::SINK:
      return "sink";
  }
  return "?";
}

std::string TaskName(wire::TaskKind kind, uint32_t index) {
  if (kind == wire::TaskKind::SINK) return "sink";
  return std::string(TaskKindText(kind)) + " " + std::to_string(index);
}

nlohmann::json JobSummaryJson(wire::JobStatus::Reader j) {
  return {{"id", j.getJobId().cStr()},           {"name", j.getName().cStr()},
          {"state", JobStateText(j.getState())}, {"bounded", j.getBounded()},
          {"attempt", j.getAttempt()},           {"records_in", j.getRecordsIn()},
          {"reason", j.getReason().cStr()}};
}

nlohmann::json JobStatusJson(wire::JobStatus::Reader j) {
  nlohmann::json out = JobSummaryJson(j);
  out["job_file"] = j.getJobFile().cStr();
  out["restarts"] = j.getRestarts();
  out["last_failure"] = j.getLastFailure().cStr();
  out["submitted_at"] = j.getSubmittedAtMs();
  out["ended_at"] = OptionalTime(j.getEndedAtMs() != 0, j.getEndedAtMs());
  out["late_records"] = j.getLateRecords();
  out["evaluated_through"] = OptionalTime(j.getHasEvaluated(), j.getEvaluatedThrough());
  out["finished"] = j.getFinished();
  out["entered"] = j.getEntered();
  out["exited"] = j.getExited();
  auto c = j.getCheckpoints();
  nlohmann::json chk = {{"enabled", c.getEnabled()},
                        {"interval_ms", c.getIntervalMs()},
                        {"completed", c.getCompleted()},
                        {"abandoned", c.getAbandoned()},
                        {"restored_from", c.getRestoredFrom().cStr()},
                        {"last_savepoint", c.getLastSavepoint().cStr()},
                        {"savepoint_pending", c.getSavepointPending()},
                        {"savepoint_error", c.getSavepointError().cStr()},
                        {"last", nullptr}};
  if (c.getLastCompletedId() > 0) {
    chk["last"] = {{"id", c.getLastCompletedId()},
                   {"duration_ms", c.getLastDurationMs()},
                   {"bytes", c.getLastBytes()},
                   {"path", c.getLastPath().cStr()}};
  }
  nlohmann::json history = nlohmann::json::array();
  for (auto r : c.getHistory()) {
    history.push_back({{"id", r.getId()},
                       {"triggered_at", r.getTriggeredAtMs()},
                       {"duration_ms", r.getDurationMs()},
                       {"bytes", r.getBytes()},
                       {"result", r.getCompleted() ? "completed" : "failed"},
                       {"error", r.getError().cStr()},
                       {"savepoint", r.getSavepoint()}});
  }
  chk["history"] = std::move(history);
  out["checkpoints"] = std::move(chk);
  nlohmann::json tasks = nlohmann::json::array();
  for (auto t : j.getTasks()) {
    auto m = t.getMetrics();
    nlohmann::json task = {{"task", TaskName(m.getKind(), m.getIndex())},
                           {"kind", TaskKindText(m.getKind())},
                           {"index", m.getIndex()},
                           {"worker", t.getWorker()},
                           {"worker_address", t.getWorkerAddress().cStr()},
                           {"done", m.getDone()},
                           {"records_in", m.getRecordsIn()},
                           {"records_out", m.getRecordsOut()},
                           {"late_records", m.getLateRecords()},
                           {"blocked_ns", m.getBlockedNs()},
                           {"watermark", OptionalTime(m.getHasWatermark(), m.getWatermark())}};
    if (m.getKind() == wire::TaskKind::KEYED)
      task["key_groups"] = {m.getKeyGroupFirst(), m.getKeyGroupLast()};
    if (m.getKind() == wire::TaskKind::SOURCE) {
      nlohmann::json parts = nlohmann::json::array();
      for (auto p : m.getPartitions()) {
        nlohmann::json part = {{"topic", p.getTopic()},
                               {"partition", p.getPartition()},
                               {"offset", p.getOffset()},
                               {"watermark", OptionalTime(p.getHasWatermark(), p.getWatermark())}};
        if (j.getBounded()) part["end_offset"] = p.getEndOffset();
        parts.push_back(std::move(part));
      }
      task["partitions"] = std::move(parts);
    }
    tasks.push_back(std::move(task));
  }
  out["tasks"] = std::move(tasks);
  return out;
}

nlohmann::json UpgradeStatusJson(wire::UpgradeStatus::Reader u) {
  return {{"id", u.getUpgradeId().cStr()},
          {"name", u.getName().cStr()},
          {"upgrade", true},
          {"job_file", u.getJobFile().cStr()},
          {"phase", UpgradePhaseText(u.getPhase())},
          {"reason", u.getReason().cStr()},
          {"carry_over", u.getCarryOver().cStr()},
          {"live_job", u.getLiveJob().cStr()},
          {"backfill_job", u.getBackfillJob().cStr()},
          {"new_job", u.getNewJob().cStr()},
          {"rounds", u.getRounds()},
          {"live_savepoint", u.getLiveSavepoint().cStr()},
          {"backfill_savepoint", u.getBackfillSavepoint().cStr()},
          {"started_at", u.getStartedAtMs()},
          {"ended_at", OptionalTime(u.getEndedAtMs() != 0, u.getEndedAtMs())}};
}

nlohmann::json WorkerJson(wire::WorkerInfo::Reader w) {
  return {{"id", w.getWorkerId()}, {"address", w.getAddress().cStr()},
          {"slots", w.getSlots()}, {"free_slots", w.getFreeSlots()},
          {"alive", w.getAlive()}, {"pid", w.getPid()}};
}

nlohmann::json JobListJson(wire::StatusReply::Reader reply) {
  nlohmann::json jobs = nlohmann::json::array();
  for (auto j : reply.getJobs()) jobs.push_back(JobSummaryJson(j));
  return jobs;
}

}  // namespace segflow::coordinator
