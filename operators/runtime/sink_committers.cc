#include "operators/runtime/sink_committers.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace segflow {
namespace {

// How long a stopping live job waits for its PostgreSQL table to take the queued commits
// (SEGFLOW_PG_DRAIN_TIMEOUT_MS: tests shorten it).
std::chrono::milliseconds PostgresDrainTimeout() {
  const char* v = std::getenv("SEGFLOW_PG_DRAIN_TIMEOUT_MS");
  return std::chrono::milliseconds(v == nullptr ? 30000
                                                : std::max(0L, std::strtol(v, nullptr, 10)));
}

}  // namespace

Status SinkCommitters::Open(const JobContext& ctx) {
  const JobSpec& job = *ctx.job;
  if (job.output.postgres.enabled()) {
    auto opened = PostgresCommitter::Open(job, !ctx.options.bounded, ctx.stop);
    if (!opened.ok()) return opened.status();
    pg_ = std::move(opened).value();
    committers_.push_back(pg_.get());
  }
  if (job.output.kafka.enabled()) {
    auto opened =
        KafkaChangelogCommitter::Open(job, ctx.partitions, !ctx.options.bounded, ctx.stop);
    if (!opened.ok()) return opened.status();
    kafka_ = std::move(opened).value();
    committers_.push_back(kafka_.get());
  }
  return Status::OK();
}

Status SinkCommitters::Restore(const CommitProgress& restored, bool fresh) {
  for (SinkCommitter* c : committers_) SEGFLOW_RETURN_IF_ERROR(c->Restore(restored, fresh));
  return Status::OK();
}

Status SinkCommitters::Commit(const std::vector<AudienceStore::Change>& changes,
                              const CommitProgress& progress) {
  for (SinkCommitter* c : committers_) SEGFLOW_RETURN_IF_ERROR(c->Commit(changes, progress));
  return Status::OK();
}

Status SinkCommitters::Poll() {
  for (SinkCommitter* c : committers_) SEGFLOW_RETURN_IF_ERROR(c->Poll());
  return Status::OK();
}

Status SinkCommitters::Erase(const std::string& user, int64_t at) {
  return pg_ ? pg_->Erase(user, at) : Status::OK();
}

Status SinkCommitters::Drain() {
  for (SinkCommitter* c : committers_) {
    Status drained = c->Drain(PostgresDrainTimeout());
    if (!drained.ok()) {
      // Also on stderr: a canceled job ends "canceled", whatever its tasks' errors.
      std::fprintf(stderr, "segflow: %s\n", drained.ToString().c_str());
      return drained;
    }
    std::fprintf(stderr, "segflow: %s\n", c->Summary().c_str());
  }
  return Status::OK();
}

}  // namespace segflow
