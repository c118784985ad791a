// ChangelogMerger: orders the changes of all keyed tasks into one changelog per partition.
//
// Each keyed task emits a partition's changes in instant order and says how far it got
// (PartitionProgress). A change is released once every keyed task is past its instant
// and it is at or before the job's evaluated time (the caller's `limit`: partitions run
// ahead of each other, and the changelog and audience must never hold a change later than
// the evaluated time they are committed with); released changes are sorted by (at, user,
// segment), so the changelog is identical for any parallelism and for bounded and live
// runs (spec §9 "Changelog order").
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "operators/runtime/messages.h"

namespace segflow {

class ChangelogMerger {
 public:
  ChangelogMerger(uint32_t keyed_tasks, uint32_t partitions);

  void Add(uint32_t partition, std::vector<ChangeRecord>&& changes);
  void Progress(uint32_t from, uint32_t partition, int64_t frontier, bool idle);
  // Marks every partition of `from` as complete (bounded end).
  void Finish(uint32_t from);

  // Moves the changes of `partition` with at < its frontier and at <= `limit` into `out`,
  // in changelog order.
  void Release(uint32_t partition, int64_t limit, std::vector<ChangeRecord>* out);
  // Changes added and not released yet (a checkpoint keeps them).
  const std::vector<ChangeRecord>& Pending(uint32_t partition) const { return pending_[partition]; }

  // Every instant < this is final for `partition` (min over keyed tasks).
  int64_t Frontier(uint32_t partition) const;
  bool Idle(uint32_t partition) const;
  uint32_t partitions() const { return static_cast<uint32_t>(pending_.size()); }

  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kDone = std::numeric_limits<int64_t>::max();

 private:
  std::vector<std::vector<ChangeRecord>> pending_;  // per partition
  std::vector<std::vector<int64_t>> frontier_;       // [partition][task]
  std::vector<std::vector<bool>> idle_;              // [partition][task]
};

}  // namespace segflow
