// Submitting a job to a coordinator and following it to its end: shared by
// `segflow submit` and `segflow run` (which submits to its embedded cluster).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cli/cluster_client.h"
#include "engine/common/status.h"
#include "operators/runtime/local_job_runner.h"

namespace segflow::cli {

struct SubmitRequest {
  std::string job_file;  // absolute, for messages and status only: a cluster resolves the job's relative paths against its --data-root
  std::string job_text;
  bool bounded = false;
  bool has_until = false;
  int64_t until = 0;
  std::string state_dir;  // empty: the job's default
  std::string from_savepoint;
  bool end_with_savepoint = false;
  bool streaming = false;  // bounded: --runtime-mode streaming
  std::string from;  // earliest | latest | time:T | offsets:P=O,...
  std::string until_offsets;  // bounded: P=O,... where sources stop (--until offsets:...)
  std::string until_savepoint;  // bounded: stop at this savepoint's offsets (--until savepoint:DIR)
  std::string merge_savepoint;  // with from_savepoint: a backfill's savepoint to merge (--merge-savepoint)
};

// Reads the job file and submits it. A job the coordinator refuses (validation errors,
// a missing topic) is InvalidArgument with the coordinator's full text.
// A resubmission of a running job's changed file starts a version upgrade: `*upgrade` is
// set and the id is the upgrade's.
Result<std::string> SubmitJob(ClusterClient* client, const std::string& path, SubmitRequest request,
                              bool* upgrade = nullptr);

struct UpgradeOutcome {
  wire::UpgradePhase phase = wire::UpgradePhase::BACKFILL;
  std::string reason, new_job;
};

// Polls an upgrade until it is done or failed, printing its phases to stderr.
Result<UpgradeOutcome> FollowUpgrade(ClusterClient* client, const std::string& upgrade_id);

struct JobOutcome {
  wire::JobState state = wire::JobState::SCHEDULING;
  std::string reason;
  RunReport report;
  std::string savepoint;  // the job's last savepoint folder ("": none)
};

// Polls the job until it ends. `*stop` (SIGINT/SIGTERM) cancels it and waits for the
// cancellation. With `progress`, state changes and a progress line every few seconds
// go to stderr.
Result<JobOutcome> FollowJob(ClusterClient* client, const std::string& job_id, std::atomic<bool>* stop,
                             bool progress);

}  // namespace segflow::cli
