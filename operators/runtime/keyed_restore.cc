#include "operators/runtime/keyed_restore.h"

#include <filesystem>
#include <system_error>

#include "operators/runtime/checkpoint_state.h"

namespace segflow {
namespace {

KeyedStateOptions StateOptions(const JobContext& ctx) {
  KeyedStateOptions options;
  options.max_parallelism = ctx.job->max_parallelism;
  return options;
}

}  // namespace

Result<std::unique_ptr<KeyedStateBackend>> OpenKeyedState(const JobContext& ctx,
                                                          const KeyGroupRange& range,
                                                          const std::string& working) {
  const CheckpointHooks* hooks = ctx.checkpoints;
  if (hooks == nullptr || hooks->restore_dir.empty()) {
    return KeyedStateBackend::Open(working, range, StateOptions(ctx));
  }
  // Any number of keyed tasks wrote the checkpoint: take our key groups from all of them.
  auto dirs = KeyedSnapshotDirs(hooks->restore_dir);
  if (!dirs.ok()) return dirs.status();
  return KeyedStateBackend::Restore(*dirs, working, range, StateOptions(ctx));
}

Status MigrateRestoredState(const CheckpointHooks& hooks, const JobContext& ctx,
                            const KeyGroupRange& range, const std::string& working,
                            KeyedStateBackend* backend, const std::vector<int64_t>& watermarks,
                            std::vector<std::vector<SwitchChange>>* switched) {
  if (!hooks.restore_migration) return Status::OK();
  if (hooks.merge_dir.empty())
    return MigrateKeyedState(*hooks.restore_migration, backend, watermarks);
  auto merge_dirs = KeyedSnapshotDirs(hooks.merge_dir);
  if (!merge_dirs.ok()) return merge_dirs.status();
  const std::string merge_working = working + "-merge";
  {
    auto merge = KeyedStateBackend::Restore(*merge_dirs, merge_working, range, StateOptions(ctx));
    if (!merge.ok()) return merge.status();
    SEGFLOW_RETURN_IF_ERROR(
        MigrateKeyedState(*hooks.restore_migration, backend, watermarks, merge->get(), switched));
  }
  std::error_code ec;
  std::filesystem::remove_all(merge_working, ec);
  return Status::OK();
}

}  // namespace segflow
