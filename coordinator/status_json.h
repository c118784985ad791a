// The coordinator's status replies as JSON: the one shape of the HTTP API (GET /v1/jobs,
// GET /v1/jobs/{id}) and of `segflow jobs --json` / `segflow status --json`, so both say
// the same facts under the same field names (integrations §12).
#pragma once

#include <nlohmann/json.hpp>

#include "engine/schema/cluster.capnp.h"

namespace segflow::coordinator {

const char* JobStateText(wire::JobState state);
// "backfill", "stopping-live", ...: an upgrade's phase in `segflow status` and the API.
const char* UpgradePhaseText(wire::UpgradePhase phase);
const char* TaskKindText(wire::TaskKind kind);
// "source 0", "keyed 1", "sink": a task's name in `segflow status` and the metrics' `task` label.
std::string TaskName(wire::TaskKind kind, uint32_t index);

// {"id", "name", "state", "bounded", "attempt", "records_in", "reason"}.
nlohmann::json JobSummaryJson(wire::JobStatus::Reader j);
// Every fact `segflow status JOB` prints: the summary plus file, restarts, last failure,
// evaluated time, changelog counts, checkpoints and per task its worker, records, watermark
// and partition offsets. Times are epoch milliseconds (null: none yet).
nlohmann::json JobStatusJson(wire::JobStatus::Reader j);
nlohmann::json UpgradeStatusJson(wire::UpgradeStatus::Reader u);
nlohmann::json WorkerJson(wire::WorkerInfo::Reader w);
// GET /v1/jobs and `segflow jobs --json`: every job's summary.
nlohmann::json JobListJson(wire::StatusReply::Reader reply);

}  // namespace segflow::coordinator
