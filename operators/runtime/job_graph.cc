#include "operators/runtime/job_graph.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/common/owned_dir.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "jobs/segment_version.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/keyed_segment_task.h"
#include "operators/runtime/source_task.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/audience_versions.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {

std::string LateTopic(const JobSpec& job) { return job.name + ".late"; }
std::string RejectedTopic(const JobSpec& job) { return job.name + ".rejected"; }

namespace {

// The audience store as the committed changelog implies it (idempotent: rebuilt whole),
// labelled with the segment versions of the job file that wrote the checkpoint
// (`restore_dir`'s _metadata): the rebuilt rows are that job's. When the restoring job
// file differs, its sink then freezes and switches the versions (sink_audience.cc).
Status RebuildAudienceStore(const JobSpec& job, const log::CommitMarker& marker, const std::string& restore_dir) {
  auto writer_text = ReadCheckpointJobText(restore_dir);
  if (!writer_text.ok()) return writer_text.status();
  auto writer_versions = SegmentVersions(*writer_text);
  if (!writer_versions.ok()) {
    return writer_versions.status().Annotate("the job file recorded in " + restore_dir);
  }
  SEGFLOW_RETURN_IF_ERROR(AudienceStore::Destroy(job.output.audience_dir));
  auto store = AudienceStore::OpenForWrite(job.output.audience_dir);
  if (!store.ok()) return store.status();
  std::vector<AudienceStore::Change> changes;
  std::vector<log::LogRecord> records;
  for (uint32_t p = 0; p < marker.offsets.size(); ++p) {
    auto reader = log::PartitionReader::Open(job.log_dir, job.output.changelog, p, 0);
    if (!reader.ok()) return reader.status();
    while ((*reader)->position() < marker.offsets[p]) {
      records.clear();
      const size_t want = static_cast<size_t>(std::min<uint64_t>(4096, marker.offsets[p] - (*reader)->position()));
      auto n = (*reader)->Poll(want, &records);
      if (!n.ok()) return n.status();
      if (*n == 0) return Status::Corruption("changelog partition " + std::to_string(p) + " ends before its commit point");
      for (auto& r : records) {
        const Value* seg = r.event.props.Find("segment");
        if (seg == nullptr || !seg->is_string()) continue;
        // A segment the writing job no longer defined had stopped serving (removed by an
        // earlier edit of the job file): it is not in that job's store.
        if (!writer_versions->count(seg->as_string())) continue;
        changes.push_back({seg->as_string(), std::move(r.event.user), r.event.type == "entered", r.event.ts});
      }
    }
  }
  // The job's own history, in order: its records carry no log position (pos 0), so an
  // exit and a later enter of one user at one instant must not be ordered by stamps.
  AudienceStore::ApplyOptions own;
  own.sync = true;
  own.ordered = true;
  own.versions = *writer_versions;
  SEGFLOW_RETURN_IF_ERROR((*store)->Apply(changes, marker.evaluated, own));
  // The changelog is never rewritten: users erased since are erased again here.
  auto erasures = LoadErasures(LedgerPath(job));
  if (!erasures.ok()) return erasures.status();
  for (const auto& [user, at] : *erasures) SEGFLOW_RETURN_IF_ERROR((*store)->Erase(user, at).status());
  // A shared store is never rebuilt (other jobs feed it); the committed changes are
  // applied again instead, which is a no-op for those it already has (a crash may have
  // come between the commit marker and the shared write).
  if (job.output.shared_audience_dir.empty()) return Status::OK();
  AudienceStore::ApplyOptions o;
  o.sync = true;
  o.writer = job.name;
  return ApplyToSharedStore(job.output.shared_audience_dir, changes, marker.evaluated, o);
}

// " by process N" when /proc/locks names the process holding the flock on `fd`'s file
// (the one that took it), else "".
std::string LockHolder(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "";
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 12345 fd:01:123456 0 EOF": pid, then major:minor:inode.
    std::istringstream in(line);
    std::string id, kind, mode, access, pid, where;
    if (!(in >> id >> kind >> mode >> access >> pid >> where) || kind != "FLOCK") continue;
    const size_t colon = where.rfind(':');
    if (colon == std::string::npos || where.substr(colon + 1) != std::to_string(st.st_ino)) continue;
    return " by process " + pid;
  }
  return "";
}

// Empties the job's state folder: only one Segflow created (marked, engine/common/owned_dir.h).
Status ResetStateDir(const std::string& state_dir) {
  SEGFLOW_RETURN_IF_ERROR(RemoveOwnedDir(state_dir, "state folder"));
  return CreateOwnedDir(state_dir, "state folder");
}

}  // namespace

Result<std::unique_ptr<PreparedOutputs>> PreparedOutputs::Prepare(const JobSpec& job, const std::string& state_dir,
                                                                 uint32_t partitions,
                                                                 const CheckpointHooks* checkpoints) {
  const std::string path = state_dir + ".lock";
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  std::unique_ptr<PreparedOutputs> prepared(new PreparedOutputs(fd));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Busy("another run of this job is active (lock " + path + " is held" + LockHolder(fd) + ")");
    }
    return Status::FromErrno("lock " + path, errno);
  }
  if (checkpoints != nullptr && !checkpoints->restore_dir.empty()) {
    const std::string& from = checkpoints->restore_dir;
    auto sink = ReadSinkCheckpoint(from);
    if (!sink.ok()) return sink.status();
    auto sources = ReadSourceCheckpoints(from);
    if (!sources.ok()) return sources.status();
    if (sink->offsets.size() != partitions) {
      return Status::Corruption("checkpoint " + from + " has " + std::to_string(sink->offsets.size()) +
                                " changelog partitions, the job " + std::to_string(partitions));
    }
    for (uint32_t p = 0; p < partitions; ++p) {
      SEGFLOW_RETURN_IF_ERROR(log::TruncatePartition(job.log_dir, job.output.changelog, p, sink->offsets[p]));
    }
    for (const auto& [p, offset] : sources->late_offsets) {
      SEGFLOW_RETURN_IF_ERROR(log::TruncatePartition(job.log_dir, LateTopic(job), p, offset));
    }
    // The failed attempt's rejects after the checkpoint: the restored sources read those
    // records again and reject them again.
    for (const auto& [p, offset] : sources->rejected_offsets) {
      SEGFLOW_RETURN_IF_ERROR(log::TruncatePartition(job.log_dir, RejectedTopic(job), p, offset));
    }
    log::CommitMarker marker;
    marker.checkpoint = checkpoints->restore_id;
    if (sink->has_evaluated) marker.evaluated = sink->evaluated;
    marker.offsets = sink->offsets;
    SEGFLOW_RETURN_IF_ERROR(log::WriteCommitMarker(job.log_dir, job.output.changelog, marker));
    SEGFLOW_RETURN_IF_ERROR(RebuildAudienceStore(job, marker, from));
    SEGFLOW_RETURN_IF_ERROR(ResetStateDir(state_dir));
    return prepared;
  }
  SEGFLOW_RETURN_IF_ERROR(log::DeleteTopic(job.log_dir, job.output.changelog));
  SEGFLOW_RETURN_IF_ERROR(log::DeleteTopic(job.log_dir, LateTopic(job)));
  SEGFLOW_RETURN_IF_ERROR(AudienceStore::Destroy(job.output.audience_dir));
  SEGFLOW_RETURN_IF_ERROR(DestroyFrozenVersions(job.output.audience_dir));
  SEGFLOW_RETURN_IF_ERROR(ResetStateDir(state_dir));
  log::TopicMeta changelog_meta;
  changelog_meta.partitions = partitions;
  changelog_meta.format = log::TopicFormat::kChangelog;
  SEGFLOW_RETURN_IF_ERROR(log::EnsureTopic(job.log_dir, job.output.changelog, changelog_meta).status());
  log::TopicMeta late_meta;
  late_meta.partitions = partitions;
  late_meta.fields = job.source.fields;
  SEGFLOW_RETURN_IF_ERROR(log::EnsureTopic(job.log_dir, LateTopic(job), late_meta).status());
  if (job.source.kafka.enabled()) {
    SEGFLOW_RETURN_IF_ERROR(log::DeleteTopic(job.log_dir, RejectedTopic(job)));
    SEGFLOW_RETURN_IF_ERROR(log::EnsureTopic(job.log_dir, RejectedTopic(job), late_meta).status());
  }
  if (checkpoints != nullptr && checkpoints->transactional) {
    log::CommitMarker empty;
    empty.offsets.assign(partitions, 0);
    SEGFLOW_RETURN_IF_ERROR(log::WriteCommitMarker(job.log_dir, job.output.changelog, empty));
  }
  return prepared;
}

PreparedOutputs::~PreparedOutputs() { ::close(lock_fd_); }

LocalTasks LocalTasks::All(const GraphShape& shape) {
  LocalTasks all;
  for (uint32_t s = 0; s < shape.sources; ++s) all.sources.push_back(s);
  for (uint32_t k = 0; k < shape.keyed; ++k) all.keyed.push_back(k);
  all.sink = true;
  return all;
}

GraphCounters::GraphCounters(const GraphShape& shape) {
  for (uint32_t s = 0; s < shape.sources; ++s) sources.push_back(std::make_unique<TaskCounters>());
  for (uint32_t k = 0; k < shape.keyed; ++k) keyed.push_back(std::make_unique<TaskCounters>());
}

void SpawnGraphTasks(TaskGroup* group, JobContext* ctx, const GraphShape& shape, const LocalTasks& local,
                     const GraphEndpoints& endpoints, GraphCounters* counters, SinkResult* sink_result) {
  if (local.sink) {
    group->Spawn("changelog sink", [=](CancellationToken&) {
      return ChangelogSinkTask(ctx, endpoints.sink, sink_result, &counters->sink).Run();
    });
  }
  for (uint32_t k : local.keyed) {
    group->Spawn("keyed task " + std::to_string(k), [=](CancellationToken&) {
      return KeyedSegmentTask(ctx, k, shape.sources, endpoints.keyed[k], endpoints.sink, counters->keyed[k].get())
          .Run();
    });
  }
  for (uint32_t s : local.sources) {
    group->Spawn("source task " + std::to_string(s), [=](CancellationToken& cancel) {
      return SourceTask(ctx, s, shape.sources, endpoints.keyed, counters->sources[s].get()).Run(&cancel);
    });
  }
}

}  // namespace segflow
