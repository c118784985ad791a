#include "operators/runtime/changelog_release.h"

#include <algorithm>

namespace segflow {

ChangelogRelease::ChangelogRelease(const JobSpec& job, uint32_t keyed_tasks, uint32_t partitions,
                                   const ErasureWatch* erasures, SinkResult* result,
                                   TaskCounters* counters)
    : job_(job),
      partitions_(partitions),
      erasures_(erasures),
      result_(result),
      counters_(counters),
      merger_(keyed_tasks, partitions),
      writers_(partitions),
      touched_(partitions, false) {}

Status ChangelogRelease::Open() {
  for (uint32_t p = 0; p < partitions_; ++p) {
    auto w = log::PartitionWriter::Open(job_.log_dir, job_.output.changelog, p);
    if (!w.ok()) return w.status();
    writers_[p] = std::move(w).value();
  }
  return Status::OK();
}

void ChangelogRelease::End(uint32_t from, bool finished, int64_t evaluated_through) {
  if (finished) final_until_ = evaluated_through;
  if (finished) merger_.Finish(from);
  TouchAll();
}

std::optional<int64_t> ChangelogRelease::FrontierEvaluated() const {
  // Every partition not idle has evaluated all instants < its frontier.
  int64_t active = ChangelogMerger::kDone, any = ChangelogMerger::kDone;
  bool has_active = false, has_any = false;
  for (uint32_t p = 0; p < partitions_; ++p) {
    const int64_t f = merger_.Frontier(p);
    if (f == ChangelogMerger::kNone) {
      if (merger_.Idle(p)) continue;  // an empty, idle partition holds nothing back
      return std::nullopt;
    }
    if (!merger_.Idle(p)) {
      active = std::min(active, f);
      has_active = true;
    }
    any = std::min(any, f);
    has_any = true;
  }
  if (has_active) return active - 1;
  if (has_any) return any - 1;
  return std::nullopt;
}

std::optional<int64_t> ChangelogRelease::Evaluated() {
  // A finished keyed task's frontiers are "done": the job has evaluated through its
  // --until at most, whatever the merger's frontiers say.
  std::optional<int64_t> through = FrontierEvaluated();
  if (through && final_until_ != ChangelogMerger::kNone) through = std::min(*through, final_until_);
  if (through && (!released_through_ || *through > *released_through_)) released_through_ = through;
  return released_through_;
}

std::optional<int64_t> ChangelogRelease::ReleaseReady() {
  const std::optional<int64_t> before = released_through_;
  const std::optional<int64_t> through = Evaluated();
  for (uint32_t p = 0; p < partitions_; ++p) {
    // Each partition once its own frontier moved; every one once the evaluated time did.
    if (touched_[p] || through != before) {
      Release(p);
      touched_[p] = false;
    }
  }
  return through;
}

void ChangelogRelease::ReleaseAll() {
  for (uint32_t p = 0; p < partitions_; ++p) Release(p);
}

std::optional<int64_t> ChangelogRelease::EndEvaluated(bool finished) {
  std::optional<int64_t> through = Evaluated();
  if (finished && final_until_ != ChangelogMerger::kNone) {
    through = final_until_;
    released_through_ = final_until_;
  }
  return through;
}

void ChangelogRelease::Release(uint32_t p) {
  if (!released_through_ || hold_) return;
  released_.clear();
  merger_.Release(p, *released_through_, &released_);
  for (auto& c : released_) Write(p, c);
}

void ChangelogRelease::Write(uint32_t p, ChangeRecord& c) {
  if (erasures_->Erased(c.user, c.at)) return;
  Event e;
  e.user = c.user;
  e.type = c.entered ? "entered" : "exited";
  e.ts = c.at;
  e.props = Value::Object({{"segment", Value::String(job_.segments[c.segment].id)}});
  // Spec §6 allows further fields: a version switch's records say so.
  if (c.switched) e.props.mutable_object().emplace_back("cause", Value::String("version-switch"));
  writers_[p]->Append(e);
  (c.entered ? result_->entered : result_->exited)++;
  counters_->records_out.fetch_add(1, std::memory_order_relaxed);
  store_changes_.push_back(
      {job_.segments[c.segment].id, std::move(c.user), c.entered, c.at, c.pos});
}

Status ChangelogRelease::Flush(bool sync) {
  for (auto& w : writers_) {
    if (w->buffered() > 0 || sync) SEGFLOW_RETURN_IF_ERROR(w->Flush(sync));
  }
  return Status::OK();
}

Status ChangelogRelease::FlushAllSynced() {
  Status s;
  for (auto& w : writers_) {
    if (s.ok()) s = w->Flush(true);
  }
  return s;
}

std::vector<uint64_t> ChangelogRelease::Offsets() const {
  std::vector<uint64_t> out;
  for (auto& w : writers_) out.push_back(w->NextOffset());
  return out;
}

}  // namespace segflow
