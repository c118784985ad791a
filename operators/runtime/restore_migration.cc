#include "operators/runtime/restore_migration.h"

#include <map>

#include "engine/common/key_group.h"
#include "jobs/job_parser.h"
#include "jobs/state_compatibility.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/segment/cached_user_state_store.h"

namespace segflow {
namespace {

Result<std::shared_ptr<const SegmentProgram>> CompileRecorded(const std::string& dir, const std::string& text,
                                                              const std::string& job_file) {
  JobParseResult job = ParseJobText(text, job_file);
  if (!job.ok()) {
    return Status::Corruption("the job file recorded in " + dir + " no longer parses:\n" + job.ErrorText());
  }
  return SegmentProgram::Compile(job.job);
}

Result<std::shared_ptr<const StateMigration>> PlanMerge(const std::string& restore_dir, const std::string& old_text,
                                                        const std::string& merge_dir, const std::string& job_text,
                                                        const std::string& job_file,
                                                        std::shared_ptr<const SegmentProgram> program) {
  auto merge_text = ReadCheckpointJobText(merge_dir);
  if (!merge_text.ok()) return merge_text.status();
  StateCarryOver carry = CompareJobState(old_text, job_text);
  if (!carry.refused.empty()) {
    return Status::FailedPrecondition("the state in " + restore_dir + " cannot be restored into this job file: " +
                                      carry.refused);
  }
  StateCarryOver backfill = CompareJobState(*merge_text, job_text);
  if (!backfill.refused.empty() || !backfill.restarted.empty() || !backfill.dropped.empty()) {
    return Status::FailedPrecondition("the backfill savepoint " + merge_dir +
                                      " was not built by this job file's segments (" +
                                      (backfill.refused.empty() ? backfill.Describe() : backfill.refused) + ")");
  }
  // Both savepoints must end at the same records, or the merged user would have seen two logs.
  auto a = ReadSourceCheckpoints(restore_dir);
  if (!a.ok()) return a.status();
  auto b = ReadSourceCheckpoints(merge_dir);
  if (!b.ok()) return b.status();
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> at;
  for (const auto& in : a->inputs) at[{in.topic, in.partition}] = in.offset;
  for (const auto& in : b->inputs) {
    auto it = at.find({in.topic, in.partition});
    if (it == at.end() || it->second != in.offset) {
      return Status::FailedPrecondition(
          "the backfill savepoint " + merge_dir + " stopped at topic " + std::to_string(in.topic) + " partition " +
          std::to_string(in.partition) + " offset " + std::to_string(in.offset) + ", the live savepoint " +
          restore_dir + " at " + (it == at.end() ? std::string("none") : std::to_string(it->second)));
    }
    at.erase(it);
  }
  if (!at.empty()) {
    return Status::FailedPrecondition("the backfill savepoint " + merge_dir + " lacks partitions the live savepoint " +
                                      restore_dir + " has");
  }
  auto old_program = CompileRecorded(restore_dir, old_text, job_file);
  if (!old_program.ok()) return old_program.status();
  auto merge_program = CompileRecorded(merge_dir, *merge_text, job_file);
  if (!merge_program.ok()) return merge_program.status();
  // Changed and added segments (StateCarryOver names them "id (changed)", "id (added)").
  std::vector<std::string> merged;
  for (const auto& s : carry.restarted) merged.push_back(s.substr(0, s.find(' ')));
  auto migration = StateMigration::PlanMerge(*old_program, std::move(program), carry.kept, *merge_program, merged);
  if (!migration.ok()) return migration.status();
  return std::shared_ptr<const StateMigration>(std::move(migration).value());
}

}  // namespace

Result<std::shared_ptr<const StateMigration>> PlanRestoreMigration(
    const std::string& restore_dir, const std::string& job_text, const std::string& job_file,
    std::shared_ptr<const SegmentProgram> program, const std::string& merge_dir) {
  auto old_text = ReadCheckpointJobText(restore_dir);
  if (!old_text.ok()) return old_text.status();
  if (!merge_dir.empty()) return PlanMerge(restore_dir, *old_text, merge_dir, job_text, job_file, std::move(program));
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
                         const std::vector<int64_t>& watermarks, KeyedStateBackend* merge,
                         std::vector<std::vector<SwitchChange>>* switched, uint64_t* misaligned) {
  auto state = backend->RegisterState(CachedUserStateStore::kStateName);
  if (!state.ok()) return state.status();
  const bool merging = merge != nullptr;
  if (merging != migration.merging() || (merging && switched == nullptr)) {
    return Status::InvalidArgument("restore: a merge needs both savepoints' state");
  }
  StateId merge_state = 0;
  if (merging) {
    auto m = merge->RegisterState(CachedUserStateStore::kStateName);
    if (!m.ok()) return m.status();
    merge_state = *m;
  }
  const uint32_t partitions = static_cast<uint32_t>(watermarks.size());
  if (merging) switched->assign(std::max<uint32_t>(partitions, 1), {});
  StateWriteBatch batch(backend);
  std::string migrated, other;
  std::vector<MembershipChange> changes;
  auto flush = [&]() -> Status {
    if (batch.count() < 4096) return Status::OK();
    SEGFLOW_RETURN_IF_ERROR(backend->Write(&batch));
    batch.Clear();
    return Status::OK();
  };
  auto merge_user = [&](uint32_t key_group, std::string_view user, std::string_view from,
                        std::string_view backfill) -> Status {
    const uint32_t p = partitions == 0 ? 0 : PartitionFor(HashUser(user), partitions);
    const int64_t resume_at = partitions == 0 ? INT64_MIN : watermarks[p];
    migrated.clear();
    changes.clear();
    bool off = false;
    Status s = migration.Merge(from, backfill, resume_at, &migrated, &changes, &off);
    if (!s.ok()) return Status::Corruption("user \"" + std::string(user) + "\": " + s.message());
    if (off && misaligned != nullptr) ++*misaligned;
    for (const auto& c : changes) (*switched)[p].push_back({std::string(user), c});
    batch.Put(*state, key_group, user, migrated);
    return flush();
  };
  // The scan reads RocksDB's implicit snapshot, so rewriting keys under it is safe.
  SEGFLOW_RETURN_IF_ERROR(backend->ForEach(
      *state, backend->key_groups(),
      [&](uint32_t key_group, std::string_view user, std::string_view value) {
        if (merging) {
          other.clear();
          Status found = merge->Get(merge_state, key_group, user, &other);
          if (!found.ok() && !(found.code() == Status::Code::kNotFound)) return found;
          return merge_user(key_group, user, value, other);
        }
        migrated.clear();
        const uint32_t p = partitions == 0 ? 0 : PartitionFor(HashUser(user), partitions);
        Status s = migration.Migrate(value, partitions == 0 ? INT64_MIN : watermarks[p], &migrated);
        if (!s.ok())
          return Status::Corruption("user \"" + std::string(user) + "\": " + s.message());
        batch.Put(*state, key_group, user, migrated);
        return flush();
      }));
  SEGFLOW_RETURN_IF_ERROR(backend->Write(&batch));
  batch.Clear();
  if (!merging) return Status::OK();
  // Users only the backfill saw (the live job's range started later, or skipped them).
  SEGFLOW_RETURN_IF_ERROR(merge->ForEach(
      merge_state, merge->key_groups(), [&](uint32_t key_group, std::string_view user, std::string_view value) {
        Status found = backend->Get(*state, key_group, user, &other);
        if (found.ok()) return Status::OK();
        if (!(found.code() == Status::Code::kNotFound)) return found;
        return merge_user(key_group, user, std::string_view(), value);
      }));
  return backend->Write(&batch);
}

}  // namespace segflow
