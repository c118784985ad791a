#include "operators/runtime/version_switch.h"

#include <algorithm>
#include <limits>

namespace segflow {

VersionSwitch VersionSwitch::Plan(const SinkCheckpointState& live,
                                  const SinkCheckpointState& backfill,
                                  const std::vector<std::string>& ids,
                                  const std::vector<bool>& merged, uint32_t partitions,
                                  std::vector<std::vector<ChangeRecord>>* held_back) {
  VersionSwitch v;
  if (live.has_evaluated || backfill.has_evaluated) {
    v.instant_ =
        std::max(live.has_evaluated ? live.evaluated : std::numeric_limits<int64_t>::min(),
                 backfill.has_evaluated ? backfill.evaluated : std::numeric_limits<int64_t>::min());
  }
  std::map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < ids.size(); ++i) index[ids[i]] = i;
  // In `at` order per (segment, user): a user's changes come from one keyed task in
  // instant order, but sort anyway (first and last below depend on it).
  auto sorted = [](std::vector<PendingChangeState> changes) {
    std::stable_sort(
        changes.begin(), changes.end(),
        [](const PendingChangeState& a, const PendingChangeState& b) { return a.at < b.at; });
    return changes;
  };
  const int64_t s = v.instant_.value_or(std::numeric_limits<int64_t>::min());
  for (const bool from_backfill : {false, true}) {
    for (const auto& c : sorted(from_backfill ? backfill.pending : live.pending)) {
      auto it = index.find(c.segment);
      if (it == index.end() || c.partition >= partitions) continue;
      const uint32_t segment = it->second;
      if (!merged[segment]) {
        // Unmerged segments keep the live job's state and its held-back changes.
        if (!from_backfill)
          held_back->at(c.partition).push_back({c.at, c.user, segment, c.entered, c.pos});
        continue;
      }
      if (c.at <= s) {
        // Before the switch the changelog is the old version's.
        if (!from_backfill)
          held_back->at(c.partition).push_back({c.at, c.user, segment, c.entered, c.pos});
        continue;
      }
      Row& row = v.rows_[{c.partition, segment, c.user}];
      auto& first = from_backfill ? row.first_new : row.first_old;
      auto& last = from_backfill ? row.last_new : row.last_old;
      if (!first) first = c.entered;
      last = c.entered;
      if (from_backfill)
        held_back->at(c.partition).push_back({c.at, c.user, segment, c.entered, c.pos});
    }
  }
  return v;
}

void VersionSwitch::Add(uint32_t partition, const ChangeRecord& change) {
  rows_[{partition, change.segment, change.user}].switched = change.entered;
}

void VersionSwitch::Finish(std::vector<std::vector<ChangeRecord>>* out) {
  if (!instant_) return;  // nothing evaluated yet: nobody is a member of either version
  for (const auto& [key, row] : rows_) {
    const auto& [partition, segment, user] = key;
    // Membership at the frontiers (the states the keyed tasks merged): the switch says
    // where they differ; elsewhere they agree, and the last held-back change says what.
    bool old_end = false, new_end = false;
    if (row.switched) {
      new_end = *row.switched;
      old_end = !new_end;
    } else {
      old_end = new_end = row.last_old ? *row.last_old : *row.last_new;
    }
    // Membership at S: before the first change after it.
    const bool old_at = row.first_old ? !*row.first_old : old_end;
    const bool new_at = row.first_new ? !*row.first_new : new_end;
    if (old_at == new_at) continue;
    ChangeRecord c{*instant_, user, segment, new_at, std::numeric_limits<uint64_t>::max()};
    c.switched = true;
    (*out)[partition].push_back(std::move(c));
  }
  rows_.clear();
}

}  // namespace segflow
