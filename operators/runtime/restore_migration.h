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
Result<std::shared_ptr<const StateMigration>> PlanRestoreMigration(
    const std::string& restore_dir, const std::string& job_text, const std::string& job_file,
    std::shared_ptr<const SegmentProgram> program);

// Rewrites every user state of the (restored) backend with `migration`. A user resumes at
// its partition's watermark `watermarks[PartitionFor(HashUser(user), partitions)]`.
Status MigrateKeyedState(const StateMigration& migration, KeyedStateBackend* backend,
                         const std::vector<int64_t>& watermarks);

}  // namespace segflow
