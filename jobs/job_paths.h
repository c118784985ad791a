// Every folder a job makes a coordinator or worker read, write or delete, and the check
// that each lies inside the process's data roots (spec integrations §13).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/common/data_roots.h"
#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

// The paths a run of `job` touches: its log, changelog/late topics' folder, audience
// store and its frozen versions beside it, shared audience, checkpoints, erasure ledger
// folder, and `state_dir` (with its lock file beside it) when not empty. (what, path).
std::vector<std::pair<std::string, std::string>> JobPaths(const JobSpec& job,
                                                          const std::string& state_dir);

// OK when every JobPaths entry and every `extra` (what, path) resolves inside `roots`;
// else the first path outside, named with the roots (DataRoots::Check).
Status CheckJobPaths(const JobSpec& job, const std::string& state_dir, const DataRoots& roots,
                     const std::vector<std::pair<std::string, std::string>>& extra = {});

}  // namespace segflow
