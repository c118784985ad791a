// Connection: one TCP connection carrying framed Cap'n Proto messages (the only contract
// between Segflow processes, engine/schema/cluster.capnp). A frame is a u32 little-endian
// byte length followed by the message in Cap'n Proto's flat format.
//
// Asio opens, connects and accepts sockets; frames move with plain blocking send/recv on
// the socket so that a send to a hung peer fails after `send_timeout` instead of hanging,
// and Close() from another thread wakes a blocked Receive at once (shutdown(2)).
// Send is thread-safe (one writer at a time); one thread receives.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/common/owned_message.h"
#include "engine/common/status.h"
#include "engine/net/host_port.h"

typedef struct ssl_st SSL;  // <openssl/ssl.h>

namespace segflow::net {

// After the handshake, frames above this are refused as corrupt (a batch of 1024 records
// and a job file are well below 1 MiB). A frame's buffer grows with the bytes that arrive,
// never to the size a header announces.
constexpr uint32_t kMaxFrameBytes = 64u << 20;
// Before the peer has authenticated (engine/net/auth.h): the largest frame, and the time
// the whole handshake may take.
constexpr uint32_t kHandshakeFrameBytes = 64u << 10;
constexpr std::chrono::milliseconds kHandshakeTimeout{5000};
// After the handshake: a frame once begun must arrive whole within this.
constexpr std::chrono::milliseconds kFrameTimeout{30000};

struct Credentials;  // auth.h
class TlsContext;    // tls.h

// One received message; Root<T>() reads it in place.
using InMessage = OwnedMessage;

struct ConnectOptions {
  int attempts = 1;                              // >= 1
  std::chrono::milliseconds first_backoff{100};  // doubles per attempt ...
  std::chrono::milliseconds max_backoff{2000};   // ... up to this
  std::chrono::milliseconds send_timeout{10000};
  // Asked before each retry; true ends the retries with kCancelled (a canceled task must
  // not spend up to attempts x max_backoff reconnecting to a worker that is gone).
  std::function<bool()> canceled;
  // The shared secret to prove (null: net::DefaultCredentials(), set from --secret-file).
  std::shared_ptr<const Credentials> credentials;
};

class Connection {
 public:
  // Takes ownership of a connected socket's file descriptor.
  Connection(int fd, std::string peer, std::chrono::milliseconds send_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects to `to` and runs the handshake as the connecting side (auth.h) with
  // `options.credentials` (null: DefaultCredentials()), retrying a refused connection or
  // one closed before the handshake with exponential backoff; the error names the
  // address, the attempts and the last reason. A failed proof is not retried
  // (PermissionDenied-like FailedPrecondition naming the peer).
  static Result<std::unique_ptr<Connection>> Connect(const HostPort& to,
                                                     const ConnectOptions& options);

  Status Send(capnp::MessageBuilder& message);
  // Blocks for the next message. NotFound("connection closed by <peer>") on a clean EOF
  // between frames; IOError/Corruption otherwise; IOError "timed out" past the deadline.
  Result<std::unique_ptr<InMessage>> Receive();

  // Frames above `max_frame_bytes` are refused (Corruption). A frame, once its first byte
  // arrived, must arrive whole within `timeout` (0: no deadline); idle time is not limited. Not
  // thread-safe with Receive (the receiving thread sets them).
  void SetReceiveLimits(uint32_t max_frame_bytes, std::chrono::milliseconds timeout);
  // A deadline for every Receive until the next SetReceiveLimits or SetReceiveDeadline
  // (the handshake's: one deadline for all of its frames).
  void SetReceiveDeadline(std::chrono::steady_clock::time_point deadline);

  // Shuts the socket down in both directions (wakes a blocked Receive); idempotent.
  void Close();
  const std::string& peer() const { return peer_; }
  // The address of this end (as the peer sees it on this connection's route).
  std::string LocalHost() const;

  // Runs a mutual TLS handshake on this connection (as the side that accepted or that
  // connected) before `deadline`; from then on every frame travels inside TLS. The socket
  // becomes non-blocking: one mutex guards the TLS state, waits happen outside it (poll),
  // so a blocked Receive never holds up a Send. FailedPrecondition when the peer's
  // certificate does not verify or the peer speaks no TLS.
  Status StartTls(const TlsContext& tls, bool accepting,
                  std::chrono::steady_clock::time_point deadline);
  bool tls() const { return ssl_ != nullptr; }

 private:
  Status ReadFully(void* buf, size_t n, bool* clean_eof,
                   std::chrono::steady_clock::time_point deadline);
  Status ReadTls(char* p, size_t n, bool* clean_eof,
                 std::chrono::steady_clock::time_point deadline);
  Status SendTls(const char* p, size_t n);
  // Waits for `events` on the socket until `deadline` (time_point{}: no deadline); false on
  // timeout.
  bool WaitFor(short events, std::chrono::steady_clock::time_point deadline);
  int fd_;
  std::chrono::milliseconds send_timeout_;
  SSL* ssl_ = nullptr;  // TLS, once StartTls succeeded
  std::mutex ssl_mu_;
  uint32_t max_frame_ = kHandshakeFrameBytes;
  std::chrono::milliseconds receive_timeout_{0};
  std::chrono::steady_clock::time_point fixed_deadline_{};  // time_point{}: none
  std::string peer_;
  std::mutex send_mu_;
  std::mutex close_mu_;
  bool closed_ = false;
};

// A listening socket. Bind reports an address in use as Busy with the address.
class Listener {
 public:
  static Result<std::unique_ptr<Listener>> Bind(const HostPort& at);
  ~Listener();
  // The bound address (the real port when bound to port 0).
  const HostPort& local() const { return local_; }
  // Blocks for the next connection; Cancelled once Close() was called.
  Result<std::unique_ptr<Connection>> Accept(std::chrono::milliseconds send_timeout);
  void Close();

 private:
  Listener(int fd, HostPort local) : fd_(fd), local_(std::move(local)) {}
  int fd_;
  HostPort local_;
  std::atomic<bool> closed_{false};
};

}  // namespace segflow::net
