// Predicate evaluation on property values (spec §4 and §9 "Values").
#pragma once

#include "engine/value/value.h"
#include "jobs/job_spec.h"

namespace segflow {

// True iff every operator of `pred` holds for `v` (nullptr: the property is missing).
bool EvaluatePredicate(const Predicate& pred, const Value* v);

// True iff `event` matches `m` (event type or "*", and every `where` predicate).
bool MatchesEvent(const EventMatch& m, const Event& event);

}  // namespace segflow
