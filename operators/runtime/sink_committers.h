// SinkCommitters: the committers (sink_committer.h) that make each completed checkpoint's
// output visible outside Segflow — the PostgreSQL audience table (output.postgres) and the
// Kafka changelog (output.changelog.kafka) — brought to the restored checkpoint first.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/job_context.h"
#include "operators/sink/kafka_changelog_committer.h"
#include "operators/sink/postgres_committer.h"
#include "operators/sink/sink_committer.h"

namespace segflow {

class SinkCommitters {
 public:
  // Opens the job's committers (none: every call is a no-op).
  Status Open(const JobContext& ctx);
  bool empty() const { return committers_.empty(); }

  // Brings each to the restored checkpoint (`fresh`: none restored, nothing to catch up).
  Status Restore(const CommitProgress& restored, bool fresh);
  Status Commit(const std::vector<AudienceStore::Change>& changes, const CommitProgress& progress);
  Status Poll();
  // Erases `user` from the PostgreSQL table (the Kafka changelog cannot take records back).
  Status Erase(const std::string& user, int64_t at);
  // The end of the run: nothing is reported committed that is not in the targets; a live
  // job's queued commits (the server was down) get a last chance, then the run fails
  // saying what is missing. Summaries and failures go to stderr.
  Status Drain();

 private:
  std::unique_ptr<PostgresCommitter> pg_;
  std::unique_ptr<KafkaChangelogCommitter> kafka_;
  std::vector<SinkCommitter*> committers_;
};

}  // namespace segflow
