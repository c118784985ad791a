#include "operators/runtime/keyed_erasure.h"

#include <cstdio>

namespace segflow {

KeyedErasures::KeyedErasures(const JobContext& ctx, uint32_t task, KeyedEvaluator* evaluator,
                             KeyedBatchMode* batch)
    : ctx_(ctx), task_(task), evaluator_(evaluator), batch_(batch), watch_(LedgerPath(*ctx.job)) {}

Status KeyedErasures::Start(bool restoring, const std::string& restore_dir) {
  SEGFLOW_RETURN_IF_ERROR(watch_.Load());
  if (!restoring) {
    applied_ = watch_.erasures();  // a fresh backend holds nobody
    return Status::OK();
  }
  return Apply("(restored from " + restore_dir + ")");
}

Status KeyedErasures::Poll() {
  auto reloaded = watch_.Poll();
  if (!reloaded.ok()) return reloaded.status();
  if (*reloaded) return Apply("(new ledger record)");
  return Status::OK();
}

Status KeyedErasures::Apply(const std::string& when) {
  uint64_t erased = 0;
  for (const auto& [user, at] : watch_.erasures()) {
    auto done = applied_.find(user);
    if (done != applied_.end() && done->second >= at) continue;
    if (batch_ != nullptr) batch_->EraseUser(user);
    auto had = evaluator_->EraseUser(user);
    if (!had.ok()) return had.status();
    erased += *had;
    applied_[user] = at;
  }
  // The report of the erasure (stderr: the worker's log; `segflow status` has no field
  // for it yet).
  if (erased > 0) {
    std::fprintf(
        stderr, "segflow: job %s keyed task %u: erased %llu user(s) from its keyed state %s\n",
        ctx_.job->name.c_str(), task_, static_cast<unsigned long long>(erased), when.c_str());
  }
  return Status::OK();
}

}  // namespace segflow
