// A client's connection to the coordinator (submit, jobs, status, cancel, run): the
// version handshake, then one request and one reply at a time.
#pragma once

#include <capnp/message.h>

#include <memory>
#include <string>

#include "engine/common/status.h"
#include "engine/net/connection.h"
#include "engine/schema/cluster.capnp.h"

namespace segflow::cli {

class ClusterClient {
 public:
  // Connects with bounded retries and backoff; a refused handshake (another protocol
  // version) is FailedPrecondition with the coordinator's reason.
  static Result<std::unique_ptr<ClusterClient>> Connect(const std::string& host_port, int attempts = 5);

  // Sends `request` (a ControlMessage) and returns the reply.
  Result<std::unique_ptr<net::InMessage>> Call(capnp::MallocMessageBuilder& request);

  // Status of one job (empty id: every job, no tasks).
  Result<std::unique_ptr<net::InMessage>> Status(const std::string& job_id);

 private:
  explicit ClusterClient(std::unique_ptr<net::Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<net::Connection> conn_;
};

// "running", "finished", ...
const char* JobStateName(wire::JobState state);
bool IsTerminal(wire::JobState state);

}  // namespace segflow::cli
