// SegmentProgram's private state, shared by program.cc and program_codec.cc.
#pragma once

#include <memory>

#include "engine/log/record_codec.h"
#include "jobs/job_spec.h"
#include "operators/segment/program.h"
#include "operators/segment/program_plan.h"

namespace segflow {

struct SegmentProgram::Impl {
  JobSpec job;
  ProgramPlan plan;
  std::shared_ptr<const log::PropsProjection> props_needed;  // what Project reads
};

}  // namespace segflow

namespace segflow {

class UserStateData;

// Earliest instant > t at which a condition or membership rule of `s` can change without
// a new event (window expiry, absence deadline, duration end, cooldown end), or kNoTime.
int64_t ComputeNextTimer(const ProgramPlan& plan, const UserStateData& s, int64_t t);

// The evaluation primitives ProcessInstant uses, shared with explain.cc (one evaluator):
// every predicate of `preds` holds on `object`; consent allows membership (spec §5);
// leaf i of the plan holds at t (after the instants <= t were applied to `s`).
bool AllPredicatesHold(const std::vector<std::pair<std::string, Predicate>>& preds,
                       const Value& object);
bool ConsentGranted(const ProgramPlan& plan, const UserStateData& s);
bool LeafHolds(const ProgramPlan& plan, const UserStateData& s, uint32_t leaf, int64_t t);

}  // namespace segflow
