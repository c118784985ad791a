#include "operators/runtime/sink_audience.h"

#include "operators/sink/audience_versions.h"

namespace segflow {
namespace {

// How often at most a live run without checkpoints writes to a shared audience store
// (each write opens it, as other jobs' sinks write it too).
constexpr auto kSharedCommitInterval = std::chrono::milliseconds(1000);

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<SinkAudience>> SinkAudience::Open(const JobSpec& job, bool fresh) {
  std::unique_ptr<SinkAudience> audience(new SinkAudience(job, fresh));
  auto store = AudienceStore::OpenForWrite(job.output.audience_dir);
  if (!store.ok()) return store.status();
  audience->store_ = std::move(store).value();
  audience->lent_ =
      std::make_unique<LiveAudienceRegistration>(job.output.audience_dir, audience->store_.get());
  return audience;
}

Status SinkAudience::ApplyOwn(const std::vector<AudienceStore::Change>& changes,
                              std::optional<int64_t> through, bool sync) {
  AudienceStore::ApplyOptions o;
  o.sync = sync;
  o.now_ms = WallMillis();
  // Every Apply carries the job's versions: the first one (a restored store still
  // labelled with the versions of the job that wrote the checkpoint) switches them
  // atomically with the first changes of this job.
  o.versions = job_.segment_versions;
  o.retired = retiring_;
  // A fresh attempt's store held nothing of this job before it (PreparedOutputs reset
  // it) and gets each row's changes in the order they were made: applied in order, with
  // no read of the row per change. A restored one may hold later stamps: compared.
  o.ordered = fresh_;
  o.fresh = fresh_;
  SEGFLOW_RETURN_IF_ERROR(store_->Apply(changes, through, o));
  retiring_.clear();
  return Status::OK();
}

Status SinkAudience::ApplyShared(const std::vector<AudienceStore::Change>& changes,
                                 std::optional<int64_t> through, bool sync, bool now) {
  const std::string& shared_dir = job_.output.shared_audience_dir;
  if (shared_dir.empty()) return Status::OK();
  shared_pending_.insert(shared_pending_.end(), changes.begin(), changes.end());
  if (through) shared_through_ = through;
  if (!now && std::chrono::steady_clock::now() - last_shared_ < kSharedCommitInterval) {
    return Status::OK();
  }
  last_shared_ = std::chrono::steady_clock::now();
  if (shared_pending_.empty() && !sync && !shared_through_) return Status::OK();
  AudienceStore::ApplyOptions o;
  o.sync = sync;
  o.writer = job_.name;
  o.now_ms = WallMillis();
  SEGFLOW_RETURN_IF_ERROR(ApplyToSharedStore(shared_dir, shared_pending_, shared_through_, o));
  shared_pending_.clear();
  shared_through_.reset();
  return Status::OK();
}

Status SinkAudience::FreezeReplacedVersions() {
  if (job_.segment_versions.empty()) return Status::OK();
  auto recorded = store_->Versions();
  if (!recorded.ok()) return recorded.status();
  for (const auto& [segment, version] : *recorded) {
    auto now = job_.segment_versions.find(segment);
    if (now != job_.segment_versions.end() && now->second == version) continue;
    auto frozen =
        FreezeVersion(*store_, job_.output.audience_dir, job_.name, segment, version, WallMillis());
    if (!frozen.ok()) {
      return frozen.status().Annotate("freeze version " + version + " of segment " + segment);
    }
    if (now == job_.segment_versions.end()) retiring_.push_back(segment);
  }
  return Status::OK();
}

Status SinkAudience::Erase(const std::string& user, int64_t at) {
  auto already = store_->ErasedAt(user);
  if (!already.ok()) return already.status();
  if (!*already || **already < at) SEGFLOW_RETURN_IF_ERROR(store_->Erase(user, at).status());
  const std::string& shared_dir = job_.output.shared_audience_dir;
  if (shared_dir.empty()) return Status::OK();
  return WithSharedStore(shared_dir, 30000, [&user, at](AudienceStore* shared) -> Status {
    auto prev = shared->ErasedAt(user);
    if (!prev.ok()) return prev.status();
    if (*prev && **prev >= at) return Status::OK();
    return shared->Erase(user, at).status();
  });
}

}  // namespace segflow
