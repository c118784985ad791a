// What every task of one segment job shares, read-only, for the job's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jobs/job_spec.h"
#include "operators/segment/program.h"

namespace segflow {

struct RunOptions {
  bool bounded = false;
  bool has_until = false;
  int64_t until = 0;
  std::string state_dir;  // per-job working state (RocksDB per keyed task)
  size_t state_cache_entries = 1u << 20;  // users' states cached in memory, per keyed task
  int64_t poll_interval_ms = 10;  // live: how often a caught-up source polls again
};

struct JobContext {
  const JobSpec* job = nullptr;
  std::shared_ptr<const SegmentProgram> program;
  RunOptions options;
  uint32_t partitions = 0;                 // per source topic (all equal)
  uint32_t keyed_tasks = 0;                // = job parallelism
  std::string late_topic;                  // "<job>.late"
  std::atomic<bool>* stop = nullptr;       // set by SIGINT/SIGTERM: stop a live run cleanly
  std::atomic<uint64_t> late_records{0};   // counter (spec §2)
  std::atomic<uint64_t> records_in{0};
};

}  // namespace segflow
