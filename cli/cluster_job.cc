#include "cli/cluster_job.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/job_summary.h"
#include "coordinator/status_json.h"

namespace segflow::cli {

Result<std::string> SubmitJob(ClusterClient* client, const std::string& path, SubmitRequest request,
                              bool* upgrade) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read job file " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  request.job_file = std::filesystem::absolute(path, ec).lexically_normal().string();
  request.job_text = text.str();
  capnp::MallocMessageBuilder msg;
  auto submit = msg.initRoot<wire::ControlMessage>().initSubmit();
  submit.setJobFile(request.job_file);
  submit.setJobText(request.job_text);
  submit.setBounded(request.bounded);
  submit.setHasUntil(request.has_until);
  submit.setUntil(request.until);
  submit.setStateDir(request.state_dir);
  submit.setFromSavepoint(request.from_savepoint);
  submit.setEndWithSavepoint(request.end_with_savepoint);
  submit.setStreaming(request.streaming);
  submit.setFrom(request.from);
  submit.setUntilOffsets(request.until_offsets);
  submit.setUntilSavepoint(request.until_savepoint);
  submit.setMergeFrom(request.merge_savepoint);
  auto reply = client->Call(msg);
  if (!reply.ok()) return reply.status();
  auto r = (*reply)->Root<wire::ControlMessage>().getSubmitReply();
  if (!r.getOk()) return Status::InvalidArgument(r.getError().cStr());
  if (r.getNotice().size() > 0) std::cerr << "segflow: " << r.getNotice().cStr() << "\n";
  if (upgrade != nullptr) *upgrade = r.getUpgradeId().size() > 0;
  return std::string(r.getJobId().cStr());
}

Result<UpgradeOutcome> FollowUpgrade(ClusterClient* client, const std::string& upgrade_id) {
  std::string last_line;
  for (;;) {
    auto reply = client->Status(upgrade_id);
    if (!reply.ok()) return reply.status();
    auto sr = (*reply)->Root<wire::ControlMessage>().getStatusReply();
    if (!sr.getOk()) return Status::NotFound(sr.getError().cStr());
    if (sr.getUpgrades().size() != 1) return Status::NotFound("no upgrade " + upgrade_id);
    auto u = sr.getUpgrades()[0];
    std::string line = "upgrade " + upgrade_id + ": " + coordinator::UpgradePhaseText(u.getPhase());
    if (u.getPhase() == wire::UpgradePhase::BACKFILL || u.getPhase() == wire::UpgradePhase::FINAL_BACKFILL) {
      line += " (round " + std::to_string(u.getRounds()) + ", " + u.getBackfillJob().cStr() + ")";
    }
    if (u.getPhase() == wire::UpgradePhase::SWITCHING) line += std::string(" (") + u.getNewJob().cStr() + ")";
    if (u.getReason().size() > 0) line += std::string(": ") + u.getReason().cStr();
    if (line != last_line) {
      std::cerr << line << "\n";
      last_line = line;
    }
    if (u.getPhase() == wire::UpgradePhase::DONE || u.getPhase() == wire::UpgradePhase::FAILED) {
      UpgradeOutcome out;
      out.phase = u.getPhase();
      out.reason = u.getReason().cStr();
      out.new_job = u.getNewJob().cStr();
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<JobOutcome> FollowJob(ClusterClient* client, const std::string& job_id, std::atomic<bool>* stop,
                             bool progress) {
  const auto started = std::chrono::steady_clock::now();
  auto last_progress = started;
  bool cancel_sent = false;
  std::string last_line;
  for (;;) {
    if (stop != nullptr && stop->load() && !cancel_sent) {
      capnp::MallocMessageBuilder msg;
      msg.initRoot<wire::ControlMessage>().initCancelJob().setJobId(job_id);
      auto reply = client->Call(msg);
      if (!reply.ok()) return reply.status();
      cancel_sent = true;
    }
    auto reply = client->Status(job_id);
    if (!reply.ok()) return reply.status();
    auto sr = (*reply)->Root<wire::ControlMessage>().getStatusReply();
    if (!sr.getOk()) return Status::NotFound(sr.getError().cStr());
    if (sr.getJobs().size() != 1) return Status::NotFound(job_id + " is not a job (an upgrade? segflow status " + job_id + ")");
    auto js = sr.getJobs()[0];
    const auto state = js.getState();
    const auto now = std::chrono::steady_clock::now();
    if (progress) {
      std::string line = std::string("job ") + job_id + ": " + JobStateName(state);
      if (js.getAttempt() > 1) line += " (attempt " + std::to_string(js.getAttempt()) + ")";
      if (js.getReason().size() > 0) line += ": " + std::string(js.getReason().cStr());
      if (line != last_line) {
        std::cerr << line << "\n";
        last_line = line;
      } else if (state == wire::JobState::RUNNING && now - last_progress >= std::chrono::seconds(5)) {
        std::cerr << "job " << job_id << ": " << js.getRecordsIn() << " records in"
                  << (js.getHasEvaluated() ? ", evaluated through " + FormatTimeWithMs(js.getEvaluatedThrough()) : "")
                  << "\n";
        last_progress = now;
      }
    }
    if (IsTerminal(state)) {
      JobOutcome out;
      out.state = state;
      out.reason = js.getReason().cStr();
      out.savepoint = js.getCheckpoints().getLastSavepoint().cStr();
      out.report.records_in = js.getRecordsIn();
      out.report.late_records = js.getLateRecords();
      out.report.rejected_records = js.getRejectedRecords();
      out.report.entered = js.getEntered();
      out.report.exited = js.getExited();
      out.report.finished = js.getFinished();
      out.report.has_evaluated = js.getHasEvaluated();
      out.report.evaluated_through = js.getEvaluatedThrough();
      out.report.seconds = std::chrono::duration<double>(now - started).count();
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace segflow::cli
