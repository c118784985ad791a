#include "operators/segment/user_batch.h"

#include <limits>
#include <optional>
#include <string>

namespace segflow {
namespace {

// Processes the state's instants < `before` and <= `last`.
Status RunInstants(const SegmentProgram& program, UserState* state, int64_t before, int64_t last,
                   std::vector<MembershipChange>* changes) {
  for (std::optional<int64_t> next = program.NextInstant(*state);
       next && *next < before && *next <= last;) {
    const int64_t t = *next;
    program.ProcessInstant(state, t, changes);
    next = program.NextInstant(*state);
    if (next && *next <= t) {
      return Status::Internal("batch evaluation: next instant " + std::to_string(*next) +
                              " does not advance past " + std::to_string(t));
    }
  }
  return Status::OK();
}

}  // namespace

Status EvaluateUserBatch(const SegmentProgram& program, UserState* state,
                         ProjectedEvent* const* events, size_t count, int64_t last,
                         std::vector<MembershipChange>* changes) {
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  for (size_t i = 0; i < count; ++i) {
    ProjectedEvent& e = *events[i];
    if (i > 0 && e.ts < events[i - 1]->ts) {
      return Status::InvalidArgument("batch evaluation: events out of ts order");
    }
    SEGFLOW_RETURN_IF_ERROR(RunInstants(program, state, e.ts, last, changes));
    program.AddEvent(state, std::move(e));
  }
  return RunInstants(program, state, kEnd, last, changes);
}

}  // namespace segflow
