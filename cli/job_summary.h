// What `segflow run` and `segflow submit --wait` print when a job ends: records, late
// records, the evaluated time, each segment's audience size and the changelog counts.
#pragma once

#include "jobs/job_spec.h"
#include "operators/runtime/local_job_runner.h"

namespace segflow::cli {

// Prints to stdout; returns the exit code (1 if the audience store cannot be read).
int PrintJobSummary(const JobSpec& job, const RunReport& report);

std::string FormatTimeWithMs(int64_t ms);

}  // namespace segflow::cli
