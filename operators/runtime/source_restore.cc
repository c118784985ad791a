#include "operators/runtime/source_restore.h"

namespace segflow {

Result<SourceRestore> SourceRestore::Read(const JobContext& ctx) {
  SourceRestore r;
  r.ctx_ = &ctx;
  const CheckpointHooks* hooks = ctx.checkpoints;
  if (hooks != nullptr && !hooks->restore_dir.empty()) {
    auto state = ReadSourceCheckpoints(hooks->restore_dir);
    if (!state.ok()) return state.status();
    for (const auto& in : state->inputs) r.restored_[{in.topic, in.partition}] = in;
  }
  return r;
}

Result<SourceRestore::Start> SourceRestore::StartOf(uint32_t topic, uint32_t partition) const {
  Start start;
  if (auto it = restored_.find({topic, partition}); it != restored_.end()) {
    start.offset = it->second.offset;
    if (it->second.has_max_prev) start.max_prev = it->second.max_prev;
  } else if (!restored_.empty()) {
    return Status::Corruption("checkpoint " + ctx_->checkpoints->restore_dir +
                              " has no position for topic \"" + ctx_->job->source.topics[topic] +
                              "\" partition " + std::to_string(partition));
  } else if (auto so = ctx_->options.start_offsets.find({topic, partition});
             so != ctx_->options.start_offsets.end()) {
    start.offset = so->second;
  }
  return start;
}

std::optional<uint64_t> SourceRestore::RestoredEnd(uint32_t topic, uint32_t partition) const {
  auto it = restored_.find({topic, partition});
  if (it == restored_.end() || !it->second.has_end_offset ||
      ctx_->checkpoints->restore_is_savepoint) {
    return std::nullopt;
  }
  return it->second.end_offset;
}

}  // namespace segflow
