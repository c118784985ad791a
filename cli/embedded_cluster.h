// The embedded default cluster of `segflow run`: a coordinator in this process and N
// worker processes (this same binary, `segflow worker`) on 127.0.0.1, each with its own
// --dir. The workers die with this process (PR_SET_PDEATHSIG), so a killed `run`
// leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/coordinator.h"
#include "engine/common/status.h"

namespace segflow::cli {

// The token of --http-token-file: the file's content, surrounding whitespace trimmed.
Result<std::string> ReadHttpToken(const std::string& path);
// The folder of a job file (absolute): the local cluster's data root for that job, so its
// relative paths resolve as the local commands (audience, explain, ...) resolve them.
std::string JobFolder(const std::string& job_file);

class EmbeddedCluster {
 public:
  // Starts the coordinator on 127.0.0.1 (a free port) and `workers` workers with `slots`
  // slots each under `dir`, and waits until every worker has registered. The coordinator
  // and every worker get `data_roots` (--data-root): the folders jobs may touch, relative
  // job paths resolving against the first. With `http.address`, the coordinator also
  // serves the HTTP API there (`run --http`). A `memory_budget` (bytes; 0: the workers'
  // default) goes to each worker as --memory-budget.
  struct Http {
    std::optional<net::HostPort> address;
    std::string token;
  };
  static Result<std::unique_ptr<EmbeddedCluster>> Start(int workers, uint32_t slots, const std::string& dir,
                                                         const std::vector<std::string>& data_roots,
                                                         const Http& http = {},
                                                         size_t memory_budget = 0);
  // Shuts the workers down (SIGKILL after a grace period) and the coordinator.
  ~EmbeddedCluster();

  std::string address() const { return coordinator_->address().ToString(); }
  std::string http_address() const { return coordinator_->http_address().ToString(); }
  // The worker processes (children of this process), e.g. for a bench that SIGKILLs one.
  const std::vector<pid_t>& worker_pids() const { return pids_; }

 private:
  EmbeddedCluster() = default;
  std::unique_ptr<coordinator::Coordinator> coordinator_;
  std::vector<pid_t> pids_;
};

}  // namespace segflow::cli
