#include "operators/runtime/sink_commit.h"

#include <utility>

namespace segflow {
namespace {

// How often at most a run without checkpoints commits to its committers.
constexpr auto kCommittersInterval = std::chrono::milliseconds(1000);

}  // namespace

SinkCommit::SinkCommit(const JobContext& ctx, ChangelogRelease* changelog, SinkAudience* audience,
                       SinkCommitters* committers, TaskCounters* counters,
                       std::optional<int64_t> evaluated)
    : ctx_(ctx),
      hooks_(ctx.checkpoints),
      transactional_(hooks_ != nullptr && hooks_->transactional),
      changelog_(changelog),
      audience_(audience),
      committers_(committers),
      counters_(counters),
      last_evaluated_(evaluated) {}

Status SinkCommit::Commit(bool sync, std::optional<int64_t> through) {
  SEGFLOW_RETURN_IF_ERROR(changelog_->Flush(sync));
  if (transactional_) {
    // Records are written but stay invisible until a checkpoint covering them completes.
    if (through && (!last_evaluated_ || *through > *last_evaluated_)) {
      last_evaluated_ = through;
      counters_->watermark.store(*through, std::memory_order_relaxed);
    }
    return Status::OK();
  }
  if (through && last_evaluated_ && *through <= *last_evaluated_) through.reset();
  if (through) {
    last_evaluated_ = through;
    counters_->watermark.store(*through, std::memory_order_relaxed);
  }
  std::vector<AudienceStore::Change>& changes = changelog_->store_changes();
  SEGFLOW_RETURN_IF_ERROR(audience_->ApplyOwn(changes, through, sync));
  SEGFLOW_RETURN_IF_ERROR(audience_->ApplyShared(changes, through, sync, sync));
  if (!committers_->empty()) {
    committer_changes_.insert(committer_changes_.end(), changes.begin(), changes.end());
    if (sync || std::chrono::steady_clock::now() - last_committers_ >= kCommittersInterval) {
      const CommitProgress progress{0, last_evaluated_, changelog_->Offsets(),
                                    sync ? "end" : "interval"};
      SEGFLOW_RETURN_IF_ERROR(committers_->Commit(committer_changes_, progress));
      committer_changes_.clear();
      last_committers_ = std::chrono::steady_clock::now();
    }
  }
  changes.clear();
  return Status::OK();
}

void SinkCommit::Stage(uint64_t id, std::optional<int64_t> through, std::vector<uint64_t> offsets) {
  PendingCommit c;
  c.id = id;
  c.marker.checkpoint = id;
  c.marker.evaluated = through;
  c.marker.offsets = std::move(offsets);
  c.changes = std::move(changelog_->store_changes());
  changelog_->store_changes().clear();
  pending_.push_back(std::move(c));
}

Status SinkCommit::PublishCompleted() {
  if (!transactional_) return Status::OK();
  const uint64_t completed = hooks_->completed.load(std::memory_order_acquire);
  while (!pending_.empty() && pending_.front().id <= completed) {
    SEGFLOW_RETURN_IF_ERROR(Publish(pending_.front().marker, pending_.front().changes, false));
    pending_.pop_front();
  }
  return Status::OK();
}

Status SinkCommit::PublishEnd() {
  if (!transactional_) return Status::OK();
  std::vector<AudienceStore::Change> all;
  for (auto& c : pending_) all.insert(all.end(), c.changes.begin(), c.changes.end());
  const std::vector<AudienceStore::Change>& released = changelog_->store_changes();
  all.insert(all.end(), released.begin(), released.end());
  log::CommitMarker marker;
  marker.checkpoint = pending_.empty() ? hooks_->completed.load() : pending_.back().id;
  marker.evaluated = last_evaluated_;
  marker.offsets = changelog_->Offsets();
  return Publish(marker, all, true);
}

Status SinkCommit::Publish(const log::CommitMarker& marker,
                           const std::vector<AudienceStore::Change>& changes, bool final_publish) {
  const JobSpec& job = *ctx_.job;
  SEGFLOW_RETURN_IF_ERROR(log::WriteCommitMarker(job.log_dir, job.output.changelog, marker));
  SEGFLOW_RETURN_IF_ERROR(audience_->ApplyOwn(changes, marker.evaluated, true));
  SEGFLOW_RETURN_IF_ERROR(audience_->ApplyShared(changes, marker.evaluated, true, true));
  const CommitProgress progress{marker.checkpoint, marker.evaluated, marker.offsets,
                                final_publish ? "end" : "checkpoint"};
  return committers_->Commit(changes, progress);
}

}  // namespace segflow
