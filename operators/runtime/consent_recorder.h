// ConsentRecorder: a source task's consent events for the stores other jobs feed too (a
// shared audience store, a PostgreSQL table), which keep each user's latest consent so
// that no job (a backfill without the withdrawal) adds back a user who withdrew. Flushed
// before each checkpoint barrier (before its changes are published), every second, at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/job_context.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/postgres_committer.h"

namespace segflow {

class ConsentRecorder {
 public:
  explicit ConsentRecorder(const JobContext& ctx);

  // Whether the job records consents at all (a consent block and a store that keeps them).
  bool enabled() const { return enabled_; }
  void Add(const std::string& user, bool granted, int64_t ts, uint64_t offset) {
    consents_.push_back({user, granted, ts, offset});
  }
  // Flushes when a second passed since the last flush and some are waiting.
  Status MaybeFlush() {
    if (consents_.empty() ||
        std::chrono::steady_clock::now() - last_flush_ < std::chrono::seconds(1)) {
      return Status::OK();
    }
    return Flush();
  }
  Status Flush();

 private:
  const JobContext& ctx_;
  const bool enabled_;
  std::unique_ptr<PostgresCommitter> pg_;  // opened at the first flush with consents
  std::vector<AudienceStore::ConsentRecord> consents_;
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
};

}  // namespace segflow
