// Restoring a checkpoint or savepoint into an edited job file: per-segment state carry-over
// (jobs/state_compatibility.h) applied to the restored keyed state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/state/keyed_state_backend.h"
#include "operators/segment/program.h"
#include "operators/segment/state_migration.h"

namespace segflow {

// The migration from the state in `restore_dir` (built by the job file of its _metadata)
// to `program` (compiled from `job_text`), or nullptr when the state already fits.
// FailedPrecondition when the state cannot carry over (a shared block changed).
//
// With `merge_dir` (a version upgrade's handover): the savepoint of a backfill of this
// job file that stopped at the same source offsets as `restore_dir`. Segments unchanged
// since `restore_dir`'s job file keep its state; every changed or added segment takes the
// backfill's state (which must have been built by these very definitions).
Result<std::shared_ptr<const StateMigration>> PlanRestoreMigration(
    const std::string& restore_dir, const std::string& job_text, const std::string& job_file,
    std::shared_ptr<const SegmentProgram> program, const std::string& merge_dir = "");

// A user's switch change (StateMigration::Merge), by log partition.
struct SwitchChange {
  std::string user;
  MembershipChange change;
};

// Rewrites every user state of the (restored) backend with `migration`. A user resumes at
// its partition's watermark `watermarks[PartitionFor(HashUser(user), partitions)]`.
// A merge also reads `merge` (the backfill's state restored for the same key groups) and
// appends the switch changes to `switched[partition]`; `misaligned` counts users the
// backfill evaluated at a later instant (StateMigration::Merge).
Status MigrateKeyedState(const StateMigration& migration, KeyedStateBackend* backend,
                         const std::vector<int64_t>& watermarks, KeyedStateBackend* merge = nullptr,
                         std::vector<std::vector<SwitchChange>>* switched = nullptr,
                         uint64_t* misaligned = nullptr);

}  // namespace segflow
