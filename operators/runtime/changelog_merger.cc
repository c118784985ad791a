#include "operators/runtime/changelog_merger.h"

#include <algorithm>
#include <tuple>

namespace segflow {

ChangelogMerger::ChangelogMerger(uint32_t keyed_tasks, uint32_t partitions)
    : pending_(partitions),
      frontier_(partitions, std::vector<int64_t>(keyed_tasks, kNone)),
      idle_(partitions, std::vector<bool>(keyed_tasks, false)) {}

void ChangelogMerger::Add(uint32_t partition, std::vector<ChangeRecord>&& changes) {
  auto& p = pending_[partition];
  if (p.empty()) {
    p = std::move(changes);
  } else {
    p.insert(p.end(), std::make_move_iterator(changes.begin()), std::make_move_iterator(changes.end()));
  }
}

void ChangelogMerger::Progress(uint32_t from, uint32_t partition, int64_t frontier, bool idle) {
  int64_t& f = frontier_[partition][from];
  f = std::max(f, frontier);
  idle_[partition][from] = idle;
}

void ChangelogMerger::Finish(uint32_t from) {
  for (uint32_t p = 0; p < pending_.size(); ++p) {
    frontier_[p][from] = kDone;
    idle_[p][from] = false;
  }
}

int64_t ChangelogMerger::Frontier(uint32_t partition) const {
  const auto& f = frontier_[partition];
  return *std::min_element(f.begin(), f.end());
}

bool ChangelogMerger::Idle(uint32_t partition) const {
  const auto& v = idle_[partition];
  return std::all_of(v.begin(), v.end(), [](bool b) { return b; });
}

void ChangelogMerger::Release(uint32_t partition, int64_t limit, std::vector<ChangeRecord>* out) {
  auto& p = pending_[partition];
  if (p.empty()) return;
  const int64_t frontier = Frontier(partition);
  auto ready_end = std::partition(
      p.begin(), p.end(), [&](const ChangeRecord& c) { return c.at < frontier && c.at <= limit; });
  if (ready_end == p.begin()) return;
  std::sort(p.begin(), ready_end, [](const ChangeRecord& a, const ChangeRecord& b) {
    return std::tie(a.at, a.user, a.segment, a.switched) <
           std::tie(b.at, b.user, b.segment, b.switched);
  });
  out->insert(out->end(), std::make_move_iterator(p.begin()), std::make_move_iterator(ready_end));
  p.erase(p.begin(), ready_end);
}

}  // namespace segflow
