// Restoring the changelog sink from a checkpoint: every instant below a partition's
// frontier is in the changelog (truncated back to the checkpoint by the attempt's
// preparation); the checkpoint's counts, evaluated time and held-back changes come back
// (those of a segment the job no longer has are dropped), and a version upgrade's
// handover plans its switch from the merged backfill's sink state.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/common/status.h"
#include "operators/runtime/changelog_release.h"
#include "operators/runtime/changelog_sink_task.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/sink_version_switch.h"
#include "operators/sink/audience_store.h"

namespace segflow {

// Restores into `changelog`, `version_switch` and `result`; returns the restored evaluated
// time (nullopt: none, or nothing restored).
Result<std::optional<int64_t>> RestoreSink(const JobContext& ctx, const AudienceStore& store,
                                           ChangelogRelease* changelog,
                                           SinkVersionSwitch* version_switch, SinkResult* result);

}  // namespace segflow
