// Restoring a keyed task: its key groups' state from every keyed snapshot of the restored
// checkpoint (any number of keyed tasks wrote it), or a fresh backend; then, for a restore
// into an edited job file, the state migration and a version upgrade's merged backfill.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/common/status.h"
#include "engine/state/keyed_state_backend.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/restore_migration.h"

namespace segflow {

// This task's keyed state in `working`: restored from ctx.checkpoints->restore_dir, or empty.
Result<std::unique_ptr<KeyedStateBackend>> OpenKeyedState(const JobContext& ctx,
                                                          const KeyGroupRange& range,
                                                          const std::string& working);

// Rewrites the restored state with hooks.restore_migration (none: nothing to do). With a
// merge_dir (a version upgrade's handover) the changed segments' state comes from the
// backfill's savepoint (same offsets), restored beside ours for the same key groups in
// `working`-merge, and each user whose membership differs is appended to `switched`.
Status MigrateRestoredState(const CheckpointHooks& hooks, const JobContext& ctx,
                            const KeyGroupRange& range, const std::string& working,
                            KeyedStateBackend* backend, const std::vector<int64_t>& watermarks,
                            std::vector<std::vector<SwitchChange>>* switched);

}  // namespace segflow
