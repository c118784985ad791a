// Segment preview (segflow preview): the size and members one segment would have at the
// end of a bounded replay, from an in-process replay of that segment alone (plus the
// segments it references), leaving the job's outputs untouched: no changelog, late topic,
// audience store or checkpoint is written; keyed state lives in a temporary folder that
// is removed afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

struct PreviewOptions {
  std::string segment;    // the segment's id
  bool has_from = false;  // start each partition at its first record with ts >= from
  int64_t from = 0;
  bool has_until = false;  // evaluate instants up to `until` (default: the largest ts read)
  int64_t until = 0;
  std::string temp_parent;  // where the temporary state folder goes (default: the system's)
};

struct PreviewResult {
  uint64_t size = 0;                            // members at the end of the replay
  std::vector<std::string> members;             // every member, sorted (byte order)
  std::vector<std::string> evaluated_segments;  // the segment and those it references
  uint64_t records_in = 0;
  uint64_t late_records = 0;
  bool has_evaluated = false;
  int64_t evaluated_through = 0;
  double seconds = 0;
};

// `job` with only `segment` and the segments it references (transitively), in file order;
// NotFound naming the defined segments when `segment` is not one of them.
Result<JobSpec> SegmentSubsetJob(const JobSpec& job, const std::string& segment);

// Replays the job's source bounded (to its end at start) for options.segment alone.
Result<PreviewResult> PreviewSegment(const JobSpec& job, const PreviewOptions& options,
                                     std::atomic<bool>* stop);

}  // namespace segflow
