// The coordinator process (`segflow coordinator`): accepts workers and clients on one
// port (Cap'n Proto over TCP, engine/schema/cluster.capnp), compiles submitted jobs into
// their execution graph, assigns key-group ranges and log partitions to worker slots,
// deploys attempts, tracks each job to FINISHED / FAILED / CANCELED, detects dead or hung
// workers by heartbeat and restarts their jobs from the beginning of the log on the
// workers that remain (a failed attempt's output is reset before the next one starts).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/net/auth.h"
#include "engine/net/host_port.h"

namespace segflow::coordinator {

struct CoordinatorOptions {
  net::HostPort listen{"127.0.0.1", 7000};
  std::string dir;                                     // held by one coordinator (lock file)
  std::chrono::milliseconds heartbeat_interval{500};   // asked of the workers
  std::chrono::milliseconds heartbeat_timeout{5000};   // silent this long: the worker is dead
  std::chrono::milliseconds slot_wait{30000};          // a job waits this long for free slots
  std::chrono::milliseconds restart_delay{500};
  uint32_t max_restarts = 3;                           // attempts after the first, per job
  // A checkpoint not completed this long after its trigger is abandoned (0: 10 x the
  // job's interval, at least 10 s).
  std::chrono::milliseconds checkpoint_timeout{0};
  // Version upgrades: another backfill round while the log grew by more than this many
  // records during the last one (at most 4 rounds); then the live job stops for the handover.
  uint64_t upgrade_catch_up_records = 20000;
  // The HTTP API, metrics and dashboard (integrations §12; coordinator/http_server.cc):
  // served when `http` is set. A non-empty `http_token` is required of every /v1 and
  // /metrics request; without one only a loopback address is accepted.
  std::optional<net::HostPort> http;
  std::string http_token;
  // --data-root: the only folders a job may make this coordinator read, write or delete
  // (its log, checkpoints, savepoints, audience); relative job paths resolve against the
  // first. Empty: the current directory.
  std::vector<std::string> data_roots;
  // Every connection proves this secret (null: net::DefaultCredentials()); without one the
  // coordinator listens on loopback addresses only.
  std::shared_ptr<const net::Credentials> credentials;
  size_t max_connections = 256;  // workers, clients and connections in the handshake
  // A worker that does not answer a prepare this long is lost.
  std::chrono::milliseconds prepare_timeout{30000};
};

class Coordinator {
 public:
  explicit Coordinator(CoordinatorOptions options);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Takes the dir lock, binds the port (a port in use is a clear error) and starts serving.
  Status Start();
  // The bound address (the real port when listening on port 0).
  net::HostPort address() const;
  // The HTTP server's bound address (the real port when asked for port 0); empty host
  // when there is none.
  net::HostPort http_address() const;
  // Asks every worker to exit when idle, stops serving and joins every thread.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace segflow::coordinator
