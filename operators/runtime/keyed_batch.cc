#include "operators/runtime/keyed_batch.h"

#include <cstdio>
#include <memory>
#include <utility>

#include "operators/segment/user_batch.h"

namespace segflow {
namespace {

// Changes go to the sink in batches of about this many per partition.
constexpr size_t kSendEvery = 1u << 16;

}  // namespace

KeyedBatchMode::KeyedBatchMode(const JobContext& ctx, uint32_t task, std::string spill_dir,
                               size_t memory_bytes)
    : ctx_(ctx), task_(task), spill_dir_(spill_dir), sorter_(std::move(spill_dir), memory_bytes) {}

Status KeyedBatchMode::Evaluate(const std::vector<int64_t>& last, UserStateStore* store,
                                KeyedSinkOutput* sink) {
  active_ = false;
  spilled_runs_ = sorter_.runs();
  const SegmentProgram& program = *ctx_.program;
  std::vector<std::vector<KeyedChange>> by_partition(last.size());
  std::vector<ProjectedEvent*> events;
  std::vector<MembershipChange> changes;
  std::string user;
  Status s = sorter_.ForEachUser([&](std::string_view user_view,
                                     const std::vector<KeyedRecord*>& records) -> Status {
    user.assign(user_view);
    const uint32_t p = records.front()->partition;
    if (p >= last.size()) {
      return Status::InvalidArgument("partition " + std::to_string(p) + " out of range");
    }
    events.clear();
    for (KeyedRecord* r : records) {
      if (r->partition != p) {
        return Status::FailedPrecondition("user \"" + user + "\" seen in partitions " +
                                          std::to_string(p) + " and " +
                                          std::to_string(r->partition));
      }
      events.push_back(&r->event);
    }
    std::unique_ptr<UserState> state = program.NewUserState();
    changes.clear();
    SEGFLOW_RETURN_IF_ERROR(
        EvaluateUserBatch(program, state.get(), events.data(), events.size(), last[p], &changes));
    ++users_;
    std::vector<KeyedChange>& out = by_partition[p];
    for (const MembershipChange& c : changes) out.push_back({user, c});
    if (store != nullptr) {
      auto inserted = store->InsertNew(user, std::move(state));
      if (!inserted.ok()) return inserted.status();
    }
    return out.size() >= kSendEvery ? sink->SendChanges(p, &out) : Status::OK();
  });
  SEGFLOW_RETURN_IF_ERROR(s);
  if (spilled_runs_ > 0) {  // the worker's log (stderr): why a replay read from disk
    std::fprintf(stderr,
                 "segflow: job %s keyed task %u: batch input beyond its memory share spilled to "
                 "sorted runs under %s (%.1f MiB written; --memory-budget raises the share)\n",
                 ctx_.job->name.c_str(), task_, spill_dir_.c_str(),
                 static_cast<double>(sorter_.spilled_bytes()) / (1 << 20));
  }
  for (uint32_t p = 0; p < by_partition.size(); ++p) {
    SEGFLOW_RETURN_IF_ERROR(sink->SendChanges(p, &by_partition[p]));
  }
  return Status::OK();
}

}  // namespace segflow
