// KeyedErasures: users erased by `segflow forget` (erasure_ledger.h) leave a keyed task's
// state (cache, RocksDB, the evaluator's timers) when it starts — a restored checkpoint
// taken before the erasure brings nobody back — and within a second of each new ledger
// record, so no checkpoint whose barrier comes after that holds them. The whole state
// goes, also what records after the erasure time built in that second: state cannot be
// split by record, and privacy errs on the erasure's side (the user's next record starts
// a new state). Records of theirs up to the erasure time still on their way are dropped.
#pragma once

#include <cstdint>
#include <string>

#include "engine/common/status.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/keyed_batch.h"
#include "operators/segment/keyed_evaluator.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {

class KeyedErasures {
 public:
  // `batch` (optional): a batch-mode task's sorted input, which erasures also reach.
  KeyedErasures(const JobContext& ctx, uint32_t task, KeyedEvaluator* evaluator,
                KeyedBatchMode* batch = nullptr);

  // At the start: loads the ledger; restored state loses every ledger user (before the
  // evaluator schedules the restored users: no timer of an erased user exists), a fresh
  // one holds nobody.
  Status Start(bool restoring, const std::string& restore_dir);
  // Between inputs: a changed ledger's new users leave the state.
  Status Poll();
  // Whether a record of `user` at `ts` is erased (dropped, not evaluated).
  bool Erased(const std::string& user, int64_t ts) const { return watch_.Erased(user, ts); }

 private:
  // Erases every ledger user not erased here yet; `when` goes into the report.
  Status Apply(const std::string& when);

  const JobContext& ctx_;
  const uint32_t task_;
  KeyedEvaluator* evaluator_;
  KeyedBatchMode* batch_;
  ErasureWatch watch_;
  Erasures applied_;  // user -> the erased_at already applied here
};

}  // namespace segflow
