// `segflow explain` from a job's log: the user's events and the job's changelog, read the
// way the run reads them, explained by the job's own SegmentProgram (explain.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/segment/explain.h"

namespace segflow {

struct ExplainReport {
  std::string user;
  SegmentExplanation explanation;
  int64_t evaluated_through = 0;  // the job's evaluated time
  uint32_t partition = 0;         // the user's source partition
  size_t events = 0;              // the user's on-time records with ts <= at
  size_t late_records = 0;        // the user's records the run set aside as late (spec §2)
  struct ChangelogEntry {
    int64_t at = 0;
    bool entered = false;
  };
  // The segment's records for the user in the job's changelog topic with at <= `at`.
  std::vector<ChangelogEntry> changelog;
  // The changelog equals the changes the explanation's evaluation produced (false, e.g.,
  // when events were appended to the log after the run read it).
  bool changelog_agrees = true;
};

// Explains `segment` for `user` at `at` (default: the job's evaluated time). Refuses an
// unknown segment (NotFound) and a time the job has not evaluated yet (OutOfRange), like
// AudienceAt. An unknown user is not an error: explanation.known_user is false.
Result<ExplainReport> ExplainFromLog(const JobSpec& job, const std::string& segment,
                                     const std::string& user, std::optional<int64_t> at);

// The report as `segflow explain --json` prints it (one JSON object and a newline): also
// what the HTTP API's explain answers.
std::string ExplainReportJson(const JobSpec& job, const ExplainReport& r);

}  // namespace segflow
