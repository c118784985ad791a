// VersionSwitch: the changelog records of a version upgrade's handover (issue 12 item 3).
//
// The new live job restores the old live job's savepoint with a backfill's merged in
// (restore_migration.h). Each keyed task reports, per user whose membership of a changed
// segment differs between the two states, a switch change; but those states are as of each
// partition's own frontier, and partitions run ahead of the job's evaluated time. The
// switch is therefore made at one instant S for every partition and reader: S is the
// later of the two savepoints' evaluated times. Through S the changelog holds the old
// version (the old job committed up to its evaluated time and held later changes back
// in its savepoint: those at or before S are still written); at S, switch records move
// each changed segment from the old version's membership at S to the new one's; after S
// come the backfill's held-back changes, then the new job's. So `audience --at T` is the
// old version for T < S and a run of the new file for T >= S, and the changelog stays in
// `at` order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/messages.h"

namespace segflow {

class VersionSwitch {
 public:
  // `live`: the old job's savepoint sink state; `backfill`: the backfill's. `merged[i]`:
  // segment i of the new job takes the backfill's state (changed or added); `ids`: the new
  // job's segment ids. Appends to `held_back[partition]` what the new sink must still
  // release: every held-back change of an unmerged segment, the old version's changes of
  // merged segments at or before S, and the backfill's after S.
  static VersionSwitch Plan(const SinkCheckpointState& live, const SinkCheckpointState& backfill,
                            const std::vector<std::string>& ids, const std::vector<bool>& merged,
                            uint32_t partitions, std::vector<std::vector<ChangeRecord>>* held_back);

  std::optional<int64_t> instant() const { return instant_; }
  // A keyed task's switch change: the user's membership differs between the two states.
  void Add(uint32_t partition, const ChangeRecord& change);
  // Every keyed task has reported: appends the switch records (at S, marked `switched`)
  // to `out[partition]`.
  void Finish(std::vector<std::vector<ChangeRecord>>* out);

 private:
  struct Row {
    std::optional<bool> first_old, last_old;  // held-back old changes after S (entered?)
    std::optional<bool> first_new, last_new;  // the backfill's after S
    std::optional<bool> switched;             // the keyed tasks' switch: the new membership
  };
  using Key = std::tuple<uint32_t, uint32_t, std::string>;  // partition, segment, user
  std::optional<int64_t> instant_;
  std::map<Key, Row> rows_;
};

}  // namespace segflow
