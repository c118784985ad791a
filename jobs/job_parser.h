// Parsing and full validation of job files (spec §3–§7).
#pragma once

#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

// One validation error: "<file>:<line>:<column>: <message>".
struct JobError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;  // names the offending key or value and what was expected
  std::string ToString() const;
};

struct JobParseResult {
  JobSpec job;                   // meaningful only when errors is empty
  std::vector<JobError> errors;  // every error of the file, in file order
  bool ok() const { return errors.empty(); }
  std::string ErrorText() const;  // all errors, one per line
};

// Reads and validates a job file; relative paths resolve against its folder.
JobParseResult ParseJobFile(const std::string& path);
// Same for text already in memory; `file` is used in messages and to resolve paths.
JobParseResult ParseJobText(const std::string& text, const std::string& file);
// Same with relative paths resolved against `base_dir` instead of the file's folder (empty:
// the file's folder): a coordinator or worker resolves a submitted job's relative paths
// against its first --data-root, never against a folder the client chose.
JobParseResult ParseJobText(const std::string& text, const std::string& file, const std::string& base_dir);

}  // namespace segflow
