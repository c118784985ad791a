#include "jobs/job_spec.h"

namespace segflow {

const char* ConditionKindName(Condition::Kind kind) {
  switch (kind) {
    case Condition::Kind::kCount: return "count";
    case Condition::Kind::kSum: return "sum";
    case Condition::Kind::kAvg: return "avg";
    case Condition::Kind::kMin: return "min";
    case Condition::Kind::kMax: return "max";
    case Condition::Kind::kDistinct: return "distinct";
    case Condition::Kind::kAbsence: return "absence";
    case Condition::Kind::kSequence: return "sequence";
    case Condition::Kind::kProfile: return "profile";
    case Condition::Kind::kSegment: return "segment";
    case Condition::Kind::kAll: return "all";
    case Condition::Kind::kAny: return "any";
    case Condition::Kind::kNot: return "not";
  }
  return "?";
}

}  // namespace segflow
