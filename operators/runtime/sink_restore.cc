#include "operators/runtime/sink_restore.h"

#include <string>
#include <utility>
#include <vector>

#include "operators/runtime/checkpoint_state.h"

namespace segflow {

Result<std::optional<int64_t>> RestoreSink(const JobContext& ctx, const AudienceStore& store,
                                           ChangelogRelease* changelog,
                                           SinkVersionSwitch* version_switch, SinkResult* result) {
  const JobSpec& job = *ctx.job;
  const uint32_t partitions = ctx.partitions;
  const CheckpointHooks* hooks = ctx.checkpoints;
  std::optional<int64_t> last_evaluated;
  std::vector<std::vector<ChangeRecord>> held_back(partitions);
  if (hooks != nullptr && !hooks->restore_dir.empty()) {
    auto state = ReadSinkCheckpoint(hooks->restore_dir);
    if (!state.ok()) return state.status();
    if (state->frontiers.size() != partitions || state->idle.size() != partitions) {
      return Status::Corruption("checkpoint " + hooks->restore_dir +
                                " has another number of partitions");
    }
    for (uint32_t p = 0; p < partitions; ++p) {
      if (state->frontiers[p] == ChangelogMerger::kNone) continue;
      for (uint32_t k = 0; k < ctx.keyed_tasks; ++k) {
        changelog->merger().Progress(k, p, state->frontiers[p], state->idle[p]);
      }
    }
    result->entered = state->entered;
    result->exited = state->exited;
    if (state->has_evaluated) last_evaluated = state->evaluated;
    // Changes later than the checkpoint's evaluated time, held back (ChangelogMerger);
    // those of a segment the job no longer has are dropped with it.
    std::vector<std::string> ids;
    for (const auto& segment : job.segments) ids.push_back(segment.id);
    std::vector<bool> merged(ids.size(), false);
    SinkCheckpointState backfill;
    if (!hooks->merge_dir.empty()) {
      // A version upgrade's handover: the changed and added segments (their version in the
      // store, still the old job's, is not this job's) switch at one instant.
      auto merge_state = ReadSinkCheckpoint(hooks->merge_dir);
      if (!merge_state.ok()) return merge_state.status();
      backfill = std::move(merge_state).value();
      auto recorded = store.Versions();
      if (!recorded.ok()) return recorded.status();
      for (uint32_t i = 0; i < ids.size(); ++i) {
        auto now = job.segment_versions.find(ids[i]);
        auto was = recorded->find(ids[i]);
        merged[i] = now != job.segment_versions.end() &&
                    (was == recorded->end() || was->second != now->second);
      }
    }
    version_switch->Start(
        VersionSwitch::Plan(*state, backfill, ids, merged, partitions, &held_back),
        !hooks->merge_dir.empty(), changelog);
  }
  for (uint32_t p = 0; p < partitions; ++p) {
    if (!held_back[p].empty()) changelog->merger().Add(p, std::move(held_back[p]));
  }
  return last_evaluated;
}

}  // namespace segflow
