#include "operators/runtime/consent_recorder.h"

namespace segflow {

ConsentRecorder::ConsentRecorder(const JobContext& ctx)
    : ctx_(ctx),
      enabled_(ctx.job->consent.has_value() && (!ctx.job->output.shared_audience_dir.empty() ||
                                                ctx.job->output.postgres.enabled())) {}

Status ConsentRecorder::Flush() {
  const JobSpec& job = *ctx_.job;
  last_flush_ = std::chrono::steady_clock::now();
  if (consents_.empty()) return Status::OK();
  if (!job.output.shared_audience_dir.empty()) {
    SEGFLOW_RETURN_IF_ERROR(WithSharedStore(
        job.output.shared_audience_dir, 30000,
        [&](AudienceStore* store) { return store->RecordConsents(consents_).status(); }));
  }
  if (job.output.postgres.enabled()) {
    if (!pg_) {
      auto opened = PostgresCommitter::Open(job, !ctx_.options.bounded, ctx_.stop);
      if (!opened.ok()) return opened.status();
      pg_ = std::move(opened).value();
    }
    SEGFLOW_RETURN_IF_ERROR(pg_->RecordConsents(consents_));
  }
  consents_.clear();
  return Status::OK();
}

}  // namespace segflow
