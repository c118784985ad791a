// Batch evaluation of one user (Flink's BATCH execution, issue 17): a bounded replay
// sorted by user hands each user's on-time events over at once, in (ts, seq) order, and
// the user is evaluated alone, with no timer heap across users and no user lookups.
//
// This is one of the interleavings the streaming KeyedEvaluator may produce itself: an
// event at ts is added only after the instants < ts (the streaming watermark never passes
// an on-time event's ts before it is added), and an instant t is processed only once every
// event with ts <= t is in. The program's results do not depend on the interleaving (spec
// §2), so a user's changes and final state equal the streaming run's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/common/status.h"
#include "operators/segment/program.h"

namespace segflow {

// Adds `events` (one user's, sorted by (ts, seq); their contents are moved out) to
// `state`, processing every instant <= `last` in time order; the changes are appended to
// `changes` in `at` order. Instants after `last` stay pending in `state` (NextInstant).
Status EvaluateUserBatch(const SegmentProgram& program, UserState* state,
                         ProjectedEvent* const* events, size_t count, int64_t last,
                         std::vector<MembershipChange>* changes);

}  // namespace segflow
