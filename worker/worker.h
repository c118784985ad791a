// The worker process (`segflow worker`): registers its slots with the coordinator, runs
// the tasks of the attempts it is given (worker/attempt.h), serves their inbound data
// connections, and sends heartbeats and task metrics. Its keyed state lives under --dir,
// which one worker holds at a time (a lock file).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/net/host_port.h"
#include "operators/runtime/job_context.h"

namespace segflow::worker {

struct WorkerOptions {
  net::HostPort coordinator;
  uint32_t slots = 1;
  std::string dir;
  // --data-root: the only folders a job may make this worker read, write or delete (log,
  // checkpoints, savepoints, audience, state); relative job paths resolve against the
  // first. Empty: the current directory.
  std::vector<std::string> data_roots;
  net::HostPort listen{"127.0.0.1", 0};  // data server; port 0: any free port
  // --memory-budget: bounds what a bounded batch run's keyed tasks here hold in memory
  // (half of it for their sorted input; beyond it they spill sorted runs to disk).
  size_t memory_budget = kDefaultMemoryBudget;
  int connect_attempts = 10;              // first registration, with exponential backoff
  // After losing the coordinator: keep trying to register again this long, then exit.
  std::chrono::milliseconds reconnect_window{30000};
  std::atomic<bool>* stop = nullptr;      // SIGINT/SIGTERM
  // Called once registered (worker id, data address), e.g. to print it.
  void (*on_registered)(uint32_t worker_id, const std::string& data_address) = nullptr;
};

// Runs until `*stop`, a shutdown from the coordinator, or the coordinator stays
// unreachable past the reconnect window (an error naming it).
Status RunWorker(const WorkerOptions& options);

}  // namespace segflow::worker
