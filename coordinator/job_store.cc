// The jobs in the coordinator's --dir, so a restarted coordinator resumes them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "coordinator/coordinator_impl.h"
#include "engine/state/message_file.h"
#include "jobs/job_parser.h"

namespace segflow::coordinator {

void Coordinator::Impl::Persist(const JobEntry& job) {
  if (options_.dir.empty()) return;
  capnp::MallocMessageBuilder msg;
  auto p = msg.initRoot<wire::PersistedJob>();
  p.setJobId(job.id);
  auto sub = p.initSubmit();
  sub.setJobFile(job.file);
  sub.setJobText(job.text);
  sub.setBounded(job.bounded);
  sub.setHasUntil(job.has_until);
  sub.setUntil(job.until);
  sub.setStateDir(job.state_dir);
  sub.setFromSavepoint(job.from_savepoint_arg);
  sub.setEndWithSavepoint(job.end_with_savepoint);
  sub.setStreaming(job.streaming);
  sub.setMergeFrom(job.merge_from);
  sub.setUntilSavepoint(job.until_savepoint);
  p.setState(job.state);
  p.setReason(job.reason);
  p.setAttempt(job.attempt);
  p.setRestarts(job.restarts);
  p.setSubmittedAtMs(job.submitted_ms);
  p.setEndedAtMs(job.ended_ms);
  auto list = p.initCheckpoints(static_cast<unsigned>(job.completed_checkpoints.size()));
  for (unsigned i = 0; i < job.completed_checkpoints.size(); ++i) {
    const auto& c = job.completed_checkpoints[i];
    list[i].setId(c.id);
    list[i].setPath(c.path);
    list[i].setDurationMs(c.duration_ms);
    list[i].setBytes(c.bytes);
  }
  p.setNextCheckpoint(job.next_checkpoint);
  p.setCompleted(job.checkpoints_completed);
  p.setAbandoned(job.checkpoints_abandoned);
  p.setLastSavepoint(job.last_savepoint);
  p.setStoppedWithSavepoint(job.stopped_with_savepoint);
  p.setInitialRestore(job.initial_restore);
  p.setInitialRestoreId(job.initial_restore_id);
  p.setLastFailure(job.last_failure);
  sub.setFrom(job.from_arg);
  SetPartitionOffsets(job.start_offsets, p.initStartOffsets(static_cast<unsigned>(job.start_offsets.size())));
  SetPartitionOffsets(job.end_offsets, p.initEndOffsets(static_cast<unsigned>(job.end_offsets.size())));
  Status s = WriteMessageFile(options_.dir + "/jobs/" + job.id, msg);
  if (!s.ok()) std::fprintf(stderr, "segflow coordinator: cannot persist job %s: %s\n", job.id.c_str(), s.ToString().c_str());
}

Status Coordinator::Impl::LoadJobs() {
  if (options_.dir.empty()) return Status::OK();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir + "/jobs", ec)) {
    const std::string path = entry.path().string();
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".tmp") == 0) continue;
    auto file = MessageFile::Read(path);
    if (!file.ok()) return file.status().Annotate("coordinator --dir " + options_.dir);
    try {
      auto p = (*file)->Root<wire::PersistedJob>();
      auto sub = p.getSubmit();
      JobParseResult parsed = ParseJobText(sub.getJobText().cStr(), sub.getJobFile().cStr(), roots_.base());
      if (!parsed.ok()) return Status::Corruption(path + ": its job text no longer parses");
      JobEntry& job = jobs_[p.getJobId().cStr()];
      job.id = p.getJobId().cStr();
      job.name = parsed.job.name;
      job.file = sub.getJobFile().cStr();
      job.text = sub.getJobText().cStr();
      job.bounded = sub.getBounded();
      job.has_until = sub.getHasUntil();
      job.until = sub.getUntil();
      job.state_dir = sub.getStateDir().cStr();
      job.from_savepoint_arg = sub.getFromSavepoint().cStr();
      job.end_with_savepoint = sub.getEndWithSavepoint();
      job.streaming = sub.getStreaming();
      job.merge_from = sub.getMergeFrom().cStr();
      job.until_savepoint = sub.getUntilSavepoint().cStr();
      job.max_parallelism = parsed.job.max_parallelism;
      job.checkpointing = parsed.job.checkpoint.enabled;
      job.checkpoint_interval_ms = parsed.job.checkpoint.interval_ms;
      job.checkpoint_root = parsed.job.checkpoint.dir + "/" + job.id;
      job.state = p.getState();
      job.reason = p.getReason().cStr();
      job.attempt = p.getAttempt();
      job.restarts = p.getRestarts();
      job.submitted_ms = p.getSubmittedAtMs();
      job.ended_ms = p.getEndedAtMs();
      for (auto c : p.getCheckpoints()) {
        job.completed_checkpoints.push_back({c.getId(), c.getPath().cStr(), c.getDurationMs(), c.getBytes()});
      }
      job.next_checkpoint = p.getNextCheckpoint();
      job.checkpoints_completed = p.getCompleted();
      job.checkpoints_abandoned = p.getAbandoned();
      job.last_savepoint = p.getLastSavepoint().cStr();
      job.stopped_with_savepoint = p.getStoppedWithSavepoint();
      job.initial_restore = p.getInitialRestore().cStr();
      job.initial_restore_id = p.getInitialRestoreId();
      job.last_failure = p.getLastFailure().cStr();
      job.from_arg = sub.getFrom().cStr();
      for (auto so : p.getStartOffsets()) job.start_offsets.push_back({so.getTopic(), so.getPartition(), so.getOffset()});
      for (auto eo : p.getEndOffsets()) job.end_offsets.push_back({eo.getTopic(), eo.getPartition(), eo.getOffset()});
      // Checkpoints completed after the last persist (the coordinator died in between)
      // are found on disk: a folder with its _metadata is complete.
      for (const auto& chk : std::filesystem::directory_iterator(job.checkpoint_root, ec)) {
        const std::string name = chk.path().filename().string();
        if (name.rfind("chk-", 0) != 0) continue;
        const uint64_t cid = std::strtoull(name.c_str() + 4, nullptr, 10);
        const bool known = std::any_of(job.completed_checkpoints.begin(), job.completed_checkpoints.end(),
                                       [&](const JobEntry::Completed& c) { return c.id == cid; });
        if (known || !MessageFile::Read(chk.path().string() + "/_metadata").ok()) continue;
        job.completed_checkpoints.push_back({cid, chk.path().string(), 0, 0});
        job.next_checkpoint = std::max(job.next_checkpoint, cid + 1);
      }
      std::sort(job.completed_checkpoints.begin(), job.completed_checkpoints.end(),
                [](const JobEntry::Completed& a, const JobEntry::Completed& b) { return a.id < b.id; });
      auto shape = PlanGraph(parsed.job);
      if (shape.ok()) job.shape = *shape;
      const size_t dash = job.id.rfind('-');
      if (dash != std::string::npos) {
        next_job_ = std::max<uint32_t>(next_job_, static_cast<uint32_t>(std::strtoul(job.id.c_str() + dash + 1, nullptr, 10)) + 1);
      }
      if (!job.terminal()) {
        // Its attempt died with the old coordinator: start again from the last checkpoint.
        job.state = wire::JobState::RESTARTING;
        job.reason = "the coordinator restarted; resuming from the last completed checkpoint";
        job.last_failure = "attempt " + std::to_string(job.attempt) + ": the coordinator was restarted";
        job.restart_at = Clock::now() + options_.restart_delay;
        job.waiting_since = job.restart_at;
        job.cancel_requested = false;
        if (!shape.ok()) EndJob(job, wire::JobState::FAILED, shape.status().message());
      }
    } catch (const kj::Exception& e) {
      return Status::Corruption(path + ": " + e.getDescription().cStr());
    }
  }
  return Status::OK();
}


}  // namespace segflow::coordinator
