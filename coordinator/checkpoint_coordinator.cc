// Checkpoints of running jobs: triggering, acknowledgements, completion (metadata,
// savepoints, retention) and the restore point of the next attempt.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include "coordinator/coordinator_impl.h"
#include "engine/common/owned_dir.h"
#include "engine/schema/checkpoint.capnp.h"
#include "engine/state/message_file.h"

namespace segflow::coordinator {
namespace {

// Deletes a checkpoint folder (<checkpoint root>/chk-<n>) only when its checkpoint root
// is one Segflow created at submission (marked, engine/common/owned_dir.h).
void RemoveCheckpointDir(const std::string& path) {
  if (!IsOwnedDir(std::filesystem::path(path).parent_path().string())) return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace

Result<std::string> NewSavepointFolder(const std::string& parent, const std::string& job_id,
                                       uint64_t checkpoint_id) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create savepoint folder " + parent + ": " + ec.message());
  const std::string base = parent + "/savepoint-" + job_id + "-" + std::to_string(checkpoint_id);
  std::random_device random;
  for (int i = 0; i < 100; ++i) {
    char suffix[16];
    std::snprintf(suffix, sizeof(suffix), "-%06x", random() & 0xffffff);
    const std::string path = i == 0 ? base : base + suffix;
    // Atomic: false (no error) when the name is taken, by an earlier savepoint or a concurrent
    // writer.
    if (std::filesystem::create_directory(path, ec)) return path;
    if (ec) return Status::IOError("cannot create savepoint folder " + path + ": " + ec.message());
  }
  return Status::IOError("no free savepoint folder name under " + parent);
}

void Coordinator::Impl::MaybeTriggerCheckpoint(JobEntry& job, Clock::time_point now) {
  if (!job.checkpointing || !job.deployed || job.failing || job.cancel_requested ||
      job.state != wire::JobState::RUNNING) {
    return;
  }
  if (job.pending_checkpoint) {
    const auto timeout = options_.checkpoint_timeout.count() > 0
                             ? options_.checkpoint_timeout
                             : std::max<std::chrono::milliseconds>(
                                   std::chrono::milliseconds(10 * job.checkpoint_interval_ms), std::chrono::seconds(10));
    if (now - job.pending_checkpoint->started > timeout) {
      AbandonCheckpoint(job, "timed out after " + std::to_string(timeout.count()) + " ms");
    }
    return;
  }
  // A bounded job that ends with a savepoint: once every source is at its end offsets.
  if (job.end_with_savepoint && !job.savepoint_wanted && !job.stopped_with_savepoint) {
    uint32_t at_end = 0;
    for (const auto& [key, t] : job.tasks) {
      if (t.kind != wire::TaskKind::SOURCE || t.partitions.empty()) continue;
      bool all = true;
      for (const auto& p : t.partitions) all = all && p.offset >= p.end_offset;
      at_end += all;
    }
    if (at_end == job.shape.sources) job.savepoint_wanted = JobEntry::SavepointWanted{true, ""};
  }
  // A bounded job in batch execution takes no periodic checkpoints (Flink's BATCH mode):
  // its keyed tasks evaluate only at the end, and a failure restarts it from its start.
  // A savepoint (asked for, or at its end) is still taken.
  if (!job.savepoint_wanted && job.bounded && !job.streaming) return;
  if (!job.savepoint_wanted && now - job.last_trigger < std::chrono::milliseconds(job.checkpoint_interval_ms)) return;
  if (job.stopped_with_savepoint) return;
  // A bounded source that has ended takes no more barriers: no checkpoint after that.
  for (const auto& [key, t] : job.tasks) {
    if (t.kind == wire::TaskKind::SOURCE && t.done) return;
  }
  job.last_trigger = now;
  JobEntry::Pending p;
  p.id = job.next_checkpoint++;
  p.started = now;
  p.started_ms = NowMs();
  p.savepoint = job.savepoint_wanted;
  job.savepoint_wanted.reset();
  job.pending_checkpoint = p;
  capnp::MallocMessageBuilder msg;
  auto ref = msg.initRoot<wire::ControlMessage>().initTriggerCheckpoint();
  ref.setJobId(job.id);
  ref.setAttempt(job.attempt);
  ref.setCheckpointId(p.id);
  ref.setStop(p.savepoint && p.savepoint->stop);
  for (const auto& [wid, n] : job.slots_held) SendToWorker(wid, msg);
}

void Coordinator::Impl::AbandonCheckpoint(JobEntry& job, const std::string& why) {
  if (!job.pending_checkpoint) return;
  RemoveCheckpointDir(job.checkpoint_root + "/chk-" + std::to_string(job.pending_checkpoint->id));
  job.RecordCheckpoint(*job.pending_checkpoint, false, why);
  job.checkpoints_abandoned++;
  job.reason = "checkpoint " + std::to_string(job.pending_checkpoint->id) + " abandoned: " + why;
  if (job.pending_checkpoint->savepoint) job.savepoint_error = "savepoint abandoned: " + why;
  job.pending_checkpoint.reset();
}

void Coordinator::Impl::OnAck(uint32_t worker, wire::AckCheckpoint::Reader ack) {
  auto it = jobs_.find(ack.getJobId().cStr());
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (job.attempt != ack.getAttempt() || !job.deployed) return;  // a late ack of an ended attempt
  if (job.PlacedOn(ack.getKind(), ack.getIndex()) != worker) {
    RejectFromWorker(worker, "checkpoint ack for " + job.id + " attempt " + std::to_string(ack.getAttempt()) +
                                 " task " + std::to_string(static_cast<int>(ack.getKind())) + "/" +
                                 std::to_string(ack.getIndex()) + ", which is not placed on it");
    return;
  }
  if (!job.pending_checkpoint || job.pending_checkpoint->id != ack.getCheckpointId()) return;
  if (!ack.getOk()) {
    AbandonCheckpoint(job, std::string("declined: ") + ack.getError().cStr());
    return;
  }
  job.pending_checkpoint->acked.insert({static_cast<int>(ack.getKind()), ack.getIndex()});
  job.pending_checkpoint->bytes += ack.getBytes();
  if (job.pending_checkpoint->acked.size() == job.shape.sources + job.shape.keyed + 1) CompleteCheckpoint(job);
}

void Coordinator::Impl::CompleteCheckpoint(JobEntry& job) {
  const JobEntry::Pending p = *job.pending_checkpoint;
  job.pending_checkpoint.reset();
  const std::string dir = job.checkpoint_root + "/chk-" + std::to_string(p.id);
  capnp::MallocMessageBuilder meta;
  auto m = meta.initRoot<schema::CheckpointMetadata>();
  m.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
  m.setJobId(job.id);
  m.setJobName(job.name);
  m.setCheckpointId(p.id);
  m.setAttempt(job.attempt);
  m.setTriggeredAtMs(p.started_ms);
  m.setCompletedAtMs(NowMs());
  m.setPartitions(job.shape.partitions);
  m.setSources(job.shape.sources);
  m.setKeyed(job.shape.keyed);
  m.setMaxParallelism(job.max_parallelism);
  m.setBytes(p.bytes);
  m.setJobText(job.text);
  // Every file the tasks wrote (task files and the RocksDB snapshots' files), so that a
  // restore can tell a damaged folder before it tries it.
  std::vector<std::string> files;
  std::error_code walk_ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, walk_ec);
       !walk_ec && it != std::filesystem::recursive_directory_iterator(); it.increment(walk_ec)) {
    if (it->is_regular_file(walk_ec)) files.push_back(std::filesystem::relative(it->path(), dir, walk_ec).string());
  }
  std::sort(files.begin(), files.end());
  auto listed = m.initFiles(static_cast<unsigned>(files.size()));
  for (unsigned i = 0; i < files.size(); ++i) listed.set(i, files[i]);
  Status s = WriteMessageFile(dir + "/_metadata", meta);
  if (!s.ok()) {
    job.RecordCheckpoint(p, false, s.message());
    job.checkpoints_abandoned++;
    job.reason = "checkpoint " + std::to_string(p.id) + " abandoned: " + s.message();
    return;
  }
  job.checkpoints_completed++;
  job.RecordCheckpoint(p, true, "");
  job.completed_checkpoints.push_back(
      {p.id, dir, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p.started).count(), p.bytes});
  // The sink makes what the checkpoint covers visible (transactional changelog); sources
  // commit its offsets to a Kafka group (source.kafka.group, for monitoring).
  capnp::MallocMessageBuilder msg;
  auto ref = msg.initRoot<wire::ControlMessage>().initCheckpointComplete();
  ref.setJobId(job.id);
  ref.setAttempt(job.attempt);
  ref.setCheckpointId(p.id);
  std::set<uint32_t> notified{job.sink_worker};
  notified.insert(job.source_worker.begin(), job.source_worker.end());
  for (uint32_t w : notified) SendToWorker(w, msg);
  if (p.savepoint) {
    // Self-contained: the files are hard-linked (or copied) out of the checkpoint, which
    // retention may delete later. Always into a new folder (never over another savepoint),
    // marked as Segflow's own.
    const std::string parent =
        !p.savepoint->dir.empty()
            ? p.savepoint->dir
            : std::filesystem::path(job.checkpoint_root).parent_path().string() + "/savepoints";
    auto target = NewSavepointFolder(parent, job.id, p.id);
    std::error_code ec;
    Status made = target.ok() ? CreateOwnedDir(*target, "savepoint folder") : target.status();
    if (made.ok()) {
      std::filesystem::copy(dir, *target,
                            std::filesystem::copy_options::recursive |
                                std::filesystem::copy_options::create_hard_links,
                            ec);
    }
    if (made.ok() && ec) {
      // The folder is ours (just created): empty it and copy instead of linking.
      ec.clear();
      made = RemoveOwnedDir(*target, "savepoint folder");
      if (made.ok()) made = CreateOwnedDir(*target, "savepoint folder");
      if (made.ok()) std::filesystem::copy(dir, *target, std::filesystem::copy_options::recursive, ec);
    }
    if (!made.ok()) {
      job.savepoint_error = "cannot write savepoint: " + made.message();
    } else if (ec) {
      job.savepoint_error = "cannot write savepoint " + *target + ": " + ec.message();
    } else {
      job.last_savepoint = *target;
      job.savepoint_error.clear();
      if (p.savepoint->stop) job.stopped_with_savepoint = true;
    }
  }
  while (job.completed_checkpoints.size() > kRetainedCheckpoints) {
    RemoveCheckpointDir(job.completed_checkpoints.front().path);
    job.completed_checkpoints.erase(job.completed_checkpoints.begin());
  }
  Persist(job);
}

std::optional<JobEntry::Completed> Coordinator::Impl::RestorePoint(JobEntry& job) {
  for (auto it = job.completed_checkpoints.rbegin(); it != job.completed_checkpoints.rend(); ++it) {
    if (job.bad_checkpoints.count(it->id)) continue;
    auto meta = MessageFile::Read(it->path + "/_metadata");
    std::string why;
    if (!meta.ok()) {
      why = meta.status().message();
    } else {
      // Every task file the metadata lists must still be there (each is CRC-checked when read).
      try {
        for (auto f : (*meta)->Root<schema::CheckpointMetadata>().getFiles()) {
          std::error_code ec;
          const std::string path = it->path + "/" + f.cStr();
          if (!std::filesystem::exists(path, ec)) {
            why = "missing checkpoint file " + path;
            break;
          }
        }
      } catch (const kj::Exception& e) {
        why = "corrupt checkpoint metadata " + it->path + "/_metadata";
      }
    }
    if (why.empty()) return *it;
    job.bad_checkpoints.insert(it->id);
    job.last_failure += (job.last_failure.empty() ? "" : "; ") + std::string("checkpoint ") + std::to_string(it->id) +
                        " skipped: " + why;
  }
  return std::nullopt;
}

void Coordinator::Impl::ReadRestoredEvaluated(JobEntry& job) {
  job.restored_has_evaluated = false;
  job.restored_evaluated = 0;
  if (job.restored_from.empty()) return;
  // The sink task's file (operators/runtime/checkpoint_state.cc); unreadable: the attempt
  // fails on it anyway, and status says "none" meanwhile.
  auto file = MessageFile::Read(job.restored_from + "/sink");
  if (!file.ok()) return;
  try {
    auto sink = (*file)->Root<schema::SinkCheckpoint>();
    job.restored_has_evaluated = sink.getHasEvaluated();
    job.restored_evaluated = sink.getEvaluated();
  } catch (const kj::Exception&) {
    job.restored_has_evaluated = false;
  }
}

}  // namespace segflow::coordinator
