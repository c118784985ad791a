// LocalJobRunner: runs a segment job's task graph in this process, one thread per task:
// `parallelism` source tasks -> `parallelism` keyed segment tasks -> one changelog sink,
// connected by bounded channels (backpressure, never unbounded buffering).
//
// Every run is a fresh attempt: it resets the job's outputs (changelog and late topics,
// audience store) and working state, then evaluates from the start of the log. Resuming
// from checkpoints is the checkpoint issue's work.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "engine/common/status.h"
#include "jobs/execution_graph.h"
#include "jobs/job_spec.h"
#include "operators/runtime/job_context.h"

namespace segflow {

struct RunReport {
  uint64_t records_in = 0;
  uint64_t late_records = 0;
  uint64_t rejected_records = 0;  // undecodable source records (a Kafka source's)
  uint64_t entered = 0;
  uint64_t exited = 0;
  bool finished = false;
  bool has_evaluated = false;
  int64_t evaluated_through = 0;
  double seconds = 0;
};

// Runs until the bounded input is consumed, or (live) until `*stop` becomes true.
Status RunJobLocally(const JobSpec& job, RunOptions options, std::atomic<bool>* stop, RunReport* report);

}  // namespace segflow
