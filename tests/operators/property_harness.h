// Drives the engine's evaluator the way the runtime does and compares it with the
// reference evaluator on random cases (random_events.h), one condition family at a time.
//
// Environment: SEGFLOW_PROPERTY_SEEDS=N runs N seeds per family (default 300);
// SEGFLOW_PROPERTY_SEED=S runs only seed S (to reproduce a reported failure).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "operators/segment/program.h"
#include "random_events.h"
#include "reference_evaluator.h"

namespace segflow::reference {

// What one engine run emitted, plus any violation of the output contract (changes past
// `until`, out of `at` order within a partition, not alternating per user and segment).
struct EngineRun {
  std::vector<Change> changes;  // sorted by ChangeLess
  std::vector<std::vector<std::string>> final_members;  // KeyedEvaluator::Members per segment
  std::string violations;
};

// Projects each record in arrival order (late records, by the §2 rule, are skipped), adds
// it to a KeyedEvaluator, advances its partition's watermark to max_seen −
// max_out_of_orderness, and finally calls Finish(until).
EngineRun RunEngine(const std::shared_ptr<const SegmentProgram>& program, uint32_t partitions,
                    const std::vector<LogRecord>& arrival, int64_t until);

// The same records in batch execution (issue 17): on-time ones sorted by user through a
// KeyedRecordSorter with `sort_budget` bytes, each user evaluated alone through `until`
// (EvaluateUserBatch); final members read from each user's state.
EngineRun RunBatch(const std::shared_ptr<const SegmentProgram>& program,
                   const std::vector<LogRecord>& arrival, int64_t until, size_t sort_budget);

// Checks `seeds` random cases of `family` (ADD_FAILURE on a mismatch, with a minimized
// reproducing case). Returns the evaluator's refusal when it does not support the family,
// for the caller to GTEST_SKIP with.
std::optional<std::string> CheckFamily(Family family);

}  // namespace segflow::reference
