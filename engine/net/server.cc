#include "engine/net/server.h"

#include <cstdio>
#include <vector>

namespace segflow::net {

Result<std::unique_ptr<Server>> Server::Start(const HostPort& at, ServerOptions options,
                                              Handler handler) {
  if (!options.credentials) options.credentials = DefaultCredentials();
  if (!options.tls) options.tls = DefaultTls();
  SEGFLOW_RETURN_IF_ERROR(
      RequireSecretFor(at.host, *options.credentials, options.name + " --listen"));
  auto listener = Listener::Bind(at);
  if (!listener.ok()) return listener.status();
  std::unique_ptr<Server> server(
      new Server(std::move(listener).value(), std::move(options), std::move(handler)));
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

Server::Server(std::unique_ptr<Listener> listener, ServerOptions options, Handler handler)
    : listener_(std::move(listener)), options_(std::move(options)), handler_(std::move(handler)) {
  options_.max_connections = std::max<size_t>(1, options_.max_connections);
  options_.max_handshakes =
      std::max<size_t>(1, std::min(options_.max_handshakes, options_.max_connections));
}

Server::~Server() {
  Close();
}

void Server::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  listener_->Close();
  if (accept_thread_.joinable()) accept_thread_.join();
  std::unique_lock<std::mutex> lock(mu_);
  for (auto& [id, e] : entries_) e.conn->Close();
  cv_.wait(lock, [&] { return threads_ == 0; });
  ReapEnded(lock);
}

void Server::ReapEnded(std::unique_lock<std::mutex>& lock) {
  if (ended_.empty()) return;
  std::vector<std::thread> ended;
  size_t dropped = 0;
  for (const auto& [id, was_dropped] : ended_) {
    auto it = threads_by_id_.find(id);
    if (it != threads_by_id_.end()) {
      ended.push_back(std::move(it->second));
      threads_by_id_.erase(it);
    }
    dropped += was_dropped ? 1 : 0;
  }
  ended_.clear();
  lock.unlock();
  for (auto& t : ended) t.join();  // each has ended ServeOne: returns at once
  lock.lock();
  dropping_ -= dropped;
}

size_t Server::connections() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void Server::LogLimited(std::chrono::steady_clock::time_point* last, uint64_t* count,
                        const std::string& what) {
  ++*count;
  const auto now = std::chrono::steady_clock::now();
  if (*last != std::chrono::steady_clock::time_point{} && now - *last < std::chrono::seconds(10))
    return;
  std::fprintf(stderr, "%s: %s (%llu time(s) since the last such message)\n", options_.name.c_str(),
               what.c_str(), static_cast<unsigned long long>(*count));
  *last = now;
  *count = 0;
}

bool Server::DropOldestHandshake(const char* why) {
  for (auto& [id, e] : entries_) {
    if (e.authenticated) continue;
    LogLimited(&last_cap_log_, &cap_hits_,
               std::string(why) + ": dropped the connection from " + e.conn->peer() +
                   " that had been in the handshake longest");
    e.conn->Close();         // its thread ends and releases it
    e.authenticated = true;  // counted out of the handshakes now, so it is not dropped twice
    e.dropped = true;
    ++dropping_;
    --handshakes_;
    return true;
  }
  return false;
}

void Server::AcceptLoop() {
  auto backoff = std::chrono::milliseconds(10);
  for (;;) {
    auto accepted = listener_->Accept(options_.send_timeout);
    if (!accepted.ok()) {
      if (accepted.status().code() == Status::Code::kCancelled) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) return;
        // Out of descriptors (EMFILE/ENFILE) or another transient failure: make room by
        // dropping the oldest unauthenticated connection, wait a little, keep accepting.
        LogLimited(&last_fd_log_, &fd_hits_,
                   "accept on " + listener_->local().ToString() + " failed: " +
                       accepted.status().message() + " (" + std::to_string(entries_.size()) +
                       " connection(s) open); backing off, still accepting");
        DropOldestHandshake("out of file descriptors");
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    backoff = std::chrono::milliseconds(10);
    std::shared_ptr<Connection> conn = std::move(accepted).value();
    std::unique_lock<std::mutex> lock(mu_);
    // Connections dropped by a cap end within moments (their socket is closed and every read
    // has a deadline); waiting for them keeps the thread count hard-bounded under a flood and
    // paces the flood to their pace. No timeout: a timed wait let a busy machine exceed it.
    for (;;) {
      ReapEnded(lock);
      if (dropping_ < kMaxDropping || closed_) break;
      cv_.wait(lock, [&] { return !ended_.empty() || closed_; });
    }
    if (closed_) {
      conn->Close();
      return;
    }
    if (handshakes_ >= options_.max_handshakes) {
      DropOldestHandshake(
          ("connection cap: " + std::to_string(options_.max_handshakes) + " in the handshake")
              .c_str());
    }
    if (entries_.size() >= options_.max_connections) {
      if (!DropOldestHandshake(
              ("connection cap: " + std::to_string(options_.max_connections) + " open").c_str())) {
        LogLimited(&last_cap_log_, &cap_hits_,
                   "connection cap: " + std::to_string(options_.max_connections) +
                       " open (--max-connections); refused the connection from " + conn->peer());
        continue;  // conn closes here
      }
    }
    const uint64_t id = next_id_++;
    entries_[id] = Entry{conn, false, false};
    ++handshakes_;
    ++threads_;
    threads_by_id_[id] = std::thread([this, id, conn]() mutable { ServeOne(id, std::move(conn)); });
  }
}

void Server::ServeOne(uint64_t id, std::shared_ptr<Connection> conn) {
  Status s;
  // A little longer than a client's wait for the challenge, so that a client without TLS
  // gives up first, with its clear message, rather than seeing a closed connection.
  if (options_.tls)
    s = conn->StartTls(
        *options_.tls, true,
        std::chrono::steady_clock::now() + kHandshakeTimeout + std::chrono::seconds(2));
  if (s.ok()) s = AuthenticateAsServer(*conn, *options_.credentials);
  bool serve = false, dropped = false, closing = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it != entries_.end() && !it->second.authenticated) {
      it->second.authenticated = true;
      --handshakes_;
      serve = s.ok() && !closed_;
    }
    if (it != entries_.end()) dropped = it->second.dropped;
    closing = closed_;
  }
  if (!s.ok() && !dropped && !closing) {
    // Once per connection, with the peer; a peer dropped by a cap was logged there.
    std::fprintf(stderr, "%s: refused the connection from %s: %s\n", options_.name.c_str(),
                 conn->peer().c_str(), s.message().c_str());
  }
  // The handler may keep the connection (a worker's attempt adopts its data connections);
  // the descriptor closes with the last reference.
  if (serve) {
    handler_(conn);
  } else {
    conn->Close();
  }
  conn.reset();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  ended_.emplace_back(id, it != entries_.end() && it->second.dropped);
  entries_.erase(id);
  --threads_;
  cv_.notify_all();
}

}  // namespace segflow::net
