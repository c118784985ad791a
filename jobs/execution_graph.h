// The execution graph of a segment job: its shape, decided from the job file and the
// source topics' metadata before anything runs, by the in-process runner and by the
// coordinator alike:
//
//   `sources` source tasks --(key group)--> `keyed` keyed segment tasks --> one changelog sink
//
// Source s reads the partitions p with p % sources == s; keyed task k owns the contiguous
// key-group range KeyGroupRange::ForSubtask(k, max_parallelism, keyed).
#pragma once

#include <cstdint>
#include <string>

#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

struct GraphShape {
  uint32_t partitions = 0;  // of every source topic (they must agree)
  uint32_t sources = 0;     // min(parallelism, partitions)
  uint32_t keyed = 0;       // = parallelism
};

// The job's source as a connector's configuration (connectors/source_connector.h).
SourceConfig SourceConfigOf(const JobSpec& job);

// Reads the source topics' metadata and sizes the graph; a missing topic or topics with
// different partition counts are errors that say what to do.
Result<GraphShape> PlanGraph(const JobSpec& job);
// The graph of `job` over source topics of `partitions` partitions (known already).
GraphShape ShapeFor(const JobSpec& job, uint32_t partitions);

// Default working-state folder of a job: "<dir of log>/state/<job>"; its lock file,
// "<state dir>.lock", keeps two runs of one job from overlapping.
std::string DefaultStateDir(const JobSpec& job);

}  // namespace segflow
