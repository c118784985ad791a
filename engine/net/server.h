// Server: a listening socket whose every connection is authenticated (auth.h) before its
// handler sees it, with bounded resources: at most `max_handshakes` connections in the
// handshake at once (past it the oldest is dropped, so a flood of silent connections cannot
// keep a real peer out) and at most `max_connections` in all; each connection's thread and
// descriptor are released when its handler returns; running out of file descriptors never
// ends the accept loop (logged, backs off, drops the oldest handshake, keeps accepting).
// Every refusal is logged once on stderr with the peer's address.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/status.h"
#include "engine/net/auth.h"
#include "engine/net/connection.h"
#include "engine/net/host_port.h"
#include "engine/net/tls.h"

namespace segflow::net {

struct ServerOptions {
  std::string name = "segflow";  // starts each log line, e.g. "segflow coordinator"
  std::shared_ptr<const Credentials> credentials;  // null: DefaultCredentials()
  std::shared_ptr<TlsContext> tls;                 // null: DefaultTls() (null again: plain TCP)
  size_t max_connections = 256;                    // in the handshake or served
  size_t max_handshakes = 64;                      // in the handshake at once
  std::chrono::milliseconds send_timeout{10000};
};

class Server {
 public:
  using Handler = std::function<void(std::shared_ptr<Connection>)>;
  // Binds `at` (without a secret only a loopback address: RequireSecretFor) and serves.
  static Result<std::unique_ptr<Server>> Start(const HostPort& at, ServerOptions options,
                                               Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const HostPort& local() const { return listener_->local(); }
  // Stops accepting, closes every connection and waits for every connection's thread to end
  // (a handler must return once its connection is closed). Idempotent.
  void Close();
  // Connections open now (in the handshake or served).
  size_t connections();

 private:
  struct Entry {
    std::shared_ptr<Connection> conn;
    bool authenticated = false;  // or no longer in the handshake
    bool dropped = false;        // closed by a cap (logged there)
  };
  Server(std::unique_ptr<Listener> listener, ServerOptions options, Handler handler);
  void AcceptLoop();
  void ServeOne(uint64_t id, std::shared_ptr<Connection> conn);
  // With mu_ held: closes the connection longest in the handshake; false if there is none.
  bool DropOldestHandshake(const char* why);
  // With `lock` on mu_ held: joins the threads that have ended (releasing the lock meanwhile).
  void ReapEnded(std::unique_lock<std::mutex>& lock);
  // Logs `what` at most once per 10 s, with how often it happened since (`*count`).
  void LogLimited(std::chrono::steady_clock::time_point* last, uint64_t* count,
                  const std::string& what);

  std::unique_ptr<Listener> listener_;
  ServerOptions options_;
  Handler handler_;
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Entry>
      entries_;  // id -> connection; ids grow, so the first in the handshake is the oldest
  size_t handshakes_ = 0;
  size_t threads_ = 0;
  size_t dropping_ = 0;  // dropped by a cap, their threads not joined yet
  // Every connection's thread, joined once it has ended (ReapEnded), so that a thread counts
  // until it is really gone and the bound on threads holds on a busy machine too.
  std::map<uint64_t, std::thread> threads_by_id_;
  std::vector<std::pair<uint64_t, bool>> ended_;  // (id, dropped by a cap), not joined yet
  static constexpr size_t kMaxDropping = 8;
  std::chrono::steady_clock::time_point last_cap_log_{}, last_fd_log_{};
  uint64_t cap_hits_ = 0, fd_hits_ = 0;
};

}  // namespace segflow::net
