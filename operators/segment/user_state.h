// UserStateData: everything SegmentProgram keeps for one user, behind the opaque
// UserState of program.h (internal to operators/segment).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/value/value.h"
#include "operators/segment/leaf_state.h"
#include "operators/segment/program.h"
#include "operators/segment/time_queue.h"

namespace segflow {

// Spec §6 membership state of one segment; `last_c` is c(t) at the last instant.
struct MemberState {
  bool member = false;
  bool armed = true;
  bool last_c = false;
  int64_t since = 0;
  int64_t cooldown_until = kNoTime;  // -inf
};

class UserStateData final : public UserState {
 public:
  // Events not yet evaluated, ascending by ts (equal ts in arrival order).
  TimeQueue<ProjectedEvent> pending;
  int64_t last_instant = kNoTime;  // none processed yet
  // Earliest instant > last_instant at which a rule can change without a new event.
  int64_t next_timer = kNoTime;
  // An instant at which every segment is evaluated even without a new event: set when a
  // savepoint restore restarts segments (state_migration.h) so that their new condition
  // takes effect at the restore position. kNoTime, or > last_instant while pending.
  int64_t recheck_at = kNoTime;
  // The largest `seq` (log offset) of the user's records applied so far (0: none).
  uint64_t last_seq = 0;

  // Consent: the latest valid consent event as (ts, seq) -> value; -1: none yet.
  int64_t consent_ts = kNoTime;
  uint64_t consent_seq = 0;
  int8_t consent = -1;

  // Profile: merged top-level properties, each stamped with the (ts, seq) that set it.
  Value profile = Value::Object({});
  std::vector<std::pair<int64_t, uint64_t>> profile_stamps;  // parallel to profile's fields
  uint64_t profile_version = 0;

  std::vector<LeafState> leaves;     // parallel to ProgramPlan::leaves
  std::vector<MemberState> members;  // parallel to JobSpec::segments
};

}  // namespace segflow
