// The changelog sink's snapshot of checkpoint `id`, once every keyed task's barrier is in:
// all of it is released first, so the changelog's ends, the partitions' frontiers and the
// changes held back past the evaluated time are the sink's whole state. Acked; a
// transactional sink stages the checkpoint's changes until it completes (SinkCommit).
#pragma once

#include <cstdint>

#include "engine/common/status.h"
#include "operators/runtime/changelog_release.h"
#include "operators/runtime/changelog_sink_task.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/sink_commit.h"

namespace segflow {

Status SnapshotSink(uint64_t id, const JobContext& ctx, ChangelogRelease* changelog,
                    const SinkResult& result, SinkCommit* commit);

}  // namespace segflow
