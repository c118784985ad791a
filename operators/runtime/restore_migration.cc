#include "operators/runtime/restore_migration.h"

#include "engine/common/key_group.h"
#include "jobs/job_parser.h"
#include "jobs/state_compatibility.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/segment/cached_user_state_store.h"

namespace segflow {

Result<std::shared_ptr<const StateMigration>> PlanRestoreMigration(
    const std::string& restore_dir, const std::string& job_text, const std::string& job_file,
    std::shared_ptr<const SegmentProgram> program) {
  auto old_text = ReadCheckpointJobText(restore_dir);
  if (!old_text.ok()) return old_text.status();
  if (*old_text == job_text) return std::shared_ptr<const StateMigration>();
  StateCarryOver carry = CompareJobState(*old_text, job_text);
  if (!carry.refused.empty()) {
    return Status::FailedPrecondition("the state in " + restore_dir +
                                      " cannot be restored into this job file: " + carry.refused);
  }
  JobParseResult old_job = ParseJobText(*old_text, job_file);
  if (!old_job.ok()) {
    return Status::Corruption("the job file recorded in " + restore_dir + " no longer parses:\n" +
                              old_job.ErrorText());
  }
  std::vector<std::string> old_ids, new_ids;
  for (const auto& s : old_job.job.segments) old_ids.push_back(s.id);
  for (const auto& s : program->job().segments) new_ids.push_back(s.id);
  // Same segments in the same order compile to the same program: the state fits as is.
  if (carry.identical() && old_ids == new_ids) return std::shared_ptr<const StateMigration>();
  auto old_program = SegmentProgram::Compile(old_job.job);
  if (!old_program.ok()) return old_program.status();
  auto migration = StateMigration::Plan(*old_program, std::move(program), carry.kept);
  if (!migration.ok()) return migration.status();
  return std::shared_ptr<const StateMigration>(std::move(migration).value());
}

Status MigrateKeyedState(const StateMigration& migration, KeyedStateBackend* backend,
                         const std::vector<int64_t>& watermarks) {
  auto state = backend->RegisterState(CachedUserStateStore::kStateName);
  if (!state.ok()) return state.status();
  const uint32_t partitions = static_cast<uint32_t>(watermarks.size());
  StateWriteBatch batch(backend);
  std::string migrated;
  // The scan reads RocksDB's implicit snapshot, so rewriting keys under it is safe.
  SEGFLOW_RETURN_IF_ERROR(backend->ForEach(
      *state, backend->key_groups(),
      [&](uint32_t key_group, std::string_view user, std::string_view value) {
        migrated.clear();
        const uint32_t p = partitions == 0 ? 0 : PartitionFor(HashUser(user), partitions);
        Status s = migration.Migrate(value, partitions == 0 ? INT64_MIN : watermarks[p], &migrated);
        if (!s.ok())
          return Status::Corruption("user \"" + std::string(user) + "\": " + s.message());
        batch.Put(*state, key_group, user, migrated);
        if (batch.count() >= 4096) {
          SEGFLOW_RETURN_IF_ERROR(backend->Write(&batch));
          batch.Clear();
        }
        return Status::OK();
      }));
  return backend->Write(&batch);
}

}  // namespace segflow
