#include "engine/net/connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <asio.hpp>
#include <cerrno>
#include <cstring>
#include <thread>

#include "engine/net/auth.h"
#include "engine/net/tls.h"

namespace segflow::net {
namespace {

// Sync socket operations never run the context; one serves the whole process.
asio::io_context& SyncContext() {
  static asio::io_context context;
  return context;
}

void SetSendTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

std::string EndpointText(const asio::ip::tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

}  // namespace

Connection::Connection(int fd, std::string peer, std::chrono::milliseconds send_timeout)
    : fd_(fd), send_timeout_(send_timeout), peer_(std::move(peer)) {
  SetSendTimeout(fd_, send_timeout);
}

Connection::~Connection() {
  Close();
  if (ssl_ != nullptr) SSL_free(ssl_);
  ::close(fd_);
}

bool Connection::WaitFor(short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int timeout = -1;
    if (deadline != std::chrono::steady_clock::time_point{}) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      timeout = static_cast<int>(left.count()) + 1;
    }
    pollfd pfd{fd_, events, 0};
    const int ready = ::poll(&pfd, 1, timeout);
    if (ready < 0 && errno == EINTR) continue;
    return ready != 0;  // ready, or an error the next TLS call reports
  }
}

Status Connection::StartTls(const TlsContext& tls, bool accepting,
                            std::chrono::steady_clock::time_point deadline) {
  SSL* ssl = SSL_new(tls.ctx());
  if (ssl == nullptr) return Status::Internal("TLS: SSL_new failed");
  const int flags = ::fcntl(fd_, F_GETFL, 0);
  ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  SSL_set_fd(ssl, fd_);
  for (;;) {
    ERR_clear_error();
    const int r = accepting ? SSL_accept(ssl) : SSL_connect(ssl);
    if (r == 1) break;
    const int err = SSL_get_error(ssl, r);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
        WaitFor(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
      continue;
    }
    std::string why = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? "timed out" : "";
    if (why.empty()) {
      const unsigned long e = ERR_get_error();
      char buf[256] =
          "the peer closed the connection (no TLS there, or it refused our certificate)";
      if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
      why = buf;
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK)
        why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    }
    SSL_free(ssl);
    ERR_clear_error();
    return Status::FailedPrecondition("TLS handshake with " + peer_ + " failed: " + why);
  }
  std::lock_guard<std::mutex> lock(ssl_mu_);
  ssl_ = ssl;
  return Status::OK();
}

Status Connection::ReadTls(char* p, size_t n, bool* clean_eof,
                           std::chrono::steady_clock::time_point deadline) {
  size_t got = 0;
  std::string ssl_error = "connection broken";
  while (got < n) {
    int r = 0, err = 0;
    {
      std::lock_guard<std::mutex> lock(ssl_mu_);
      ERR_clear_error();
      r = SSL_read(ssl_, p + got, static_cast<int>(std::min<size_t>(n - got, 1u << 30)));
      err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_SSL) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        ssl_error = buf;
      }
      if (r <= 0 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ERR_clear_error();
    }
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!WaitFor(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return Status::IOError("receive from " + peer_ + " timed out");
      }
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) {
      if (got == 0 && clean_eof != nullptr) *clean_eof = true;
      return Status::NotFound("connection closed by " + peer_);
    }
    // A TLS alert (e.g. the peer refused our certificate): retrying will not help.
    return Status::FailedPrecondition("TLS receive from " + peer_ + " failed: " + ssl_error);
  }
  return Status::OK();
}

Status Connection::SendTls(const char* p, size_t n) {
  size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + send_timeout_;
  while (sent < n) {
    int r = 0, err = 0;
    {
      std::lock_guard<std::mutex> lock(ssl_mu_);
      ERR_clear_error();
      r = SSL_write(ssl_, p + sent, static_cast<int>(std::min<size_t>(n - sent, 1u << 30)));
      err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
      if (r <= 0 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ERR_clear_error();
    }
    if (r > 0) {
      sent += static_cast<size_t>(r);
      continue;
    }
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!WaitFor(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return Status::IOError("send to " + peer_ + " timed out (the peer is not reading)");
      }
      continue;
    }
    return Status::IOError("TLS send to " + peer_ + " failed (connection closed)");
  }
  return Status::OK();
}

Result<std::unique_ptr<Connection>> Connection::Connect(const HostPort& to,
                                                        const ConnectOptions& options) {
  std::string last;
  auto backoff = options.first_backoff;
  for (int attempt = 1; attempt <= std::max(1, options.attempts); ++attempt) {
    if (attempt > 1 && options.canceled && options.canceled()) {
      return Status::Cancelled("connecting to " + to.ToString() + " canceled after " +
                               std::to_string(attempt - 1) + " attempt(s): " + last);
    }
    asio::error_code ec;
    asio::ip::tcp::resolver resolver(SyncContext());
    auto endpoints = resolver.resolve(to.host, std::to_string(to.port), ec);
    if (!ec) {
      asio::ip::tcp::socket socket(SyncContext());
      asio::connect(socket, endpoints, ec);
      if (!ec) {
        const std::string peer = EndpointText(socket.remote_endpoint(ec));
        const int fd = socket.release(ec);
        if (!ec) {
          auto conn = std::make_unique<Connection>(fd, peer, options.send_timeout);
          const auto credentials = options.credentials ? options.credentials : DefaultCredentials();
          Status s;
          if (auto tls = DefaultTls())
            s = conn->StartTls(*tls, false, std::chrono::steady_clock::now() + kHandshakeTimeout);
          if (s.ok()) s = AuthenticateAsClient(*conn, *credentials);
          if (s.ok()) return conn;
          // A refused proof or another version will not change on a retry; a peer that
          // closed at once (over its connection cap, or restarting) may take us next time.
          if (s.code() == Status::Code::kFailedPrecondition) return s;
          ec = asio::error::connection_aborted;
          last = s.message();
        }
      }
    }
    if (last.empty() || ec != asio::error::connection_aborted) last = ec.message();
    if (attempt < options.attempts) {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, options.max_backoff);
    }
  }
  return Status::IOError("cannot connect to " + to.ToString() + " after " +
                         std::to_string(options.attempts) + " attempt(s): " + last);
}

Status Connection::Send(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  if (bytes.size() > kMaxFrameBytes) return Status::InvalidArgument("message too large to send");
  uint8_t header[4];
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) header[i] = static_cast<uint8_t>(n >> (8 * i));
  std::lock_guard<std::mutex> lock(send_mu_);
  if (ssl_ != nullptr) {
    std::string frame(reinterpret_cast<const char*>(header), 4);
    frame.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    return SendTls(frame.data(), frame.size());
  }
  iovec parts[2] = {{header, 4}, {const_cast<kj::byte*>(bytes.begin()), bytes.size()}};
  size_t total = 4 + bytes.size();
  size_t sent = 0;
  while (sent < total) {
    msghdr msg{};
    iovec iov[2];
    int count = 0;
    size_t skip = sent;
    for (auto& p : parts) {
      if (skip >= p.iov_len) {
        skip -= p.iov_len;
        continue;
      }
      iov[count].iov_base = static_cast<char*>(p.iov_base) + skip;
      iov[count].iov_len = p.iov_len - skip;
      skip = 0;
      ++count;
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status::IOError("send to " + peer_ + " timed out (the peer is not reading)");
      }
      return Status::FromErrno("send to " + peer_, errno);
    }
    sent += static_cast<size_t>(w);
  }
  return Status::OK();
}

void Connection::SetReceiveLimits(uint32_t max_frame_bytes, std::chrono::milliseconds timeout) {
  max_frame_ = max_frame_bytes;
  receive_timeout_ = timeout;
  fixed_deadline_ = {};
}

void Connection::SetReceiveDeadline(std::chrono::steady_clock::time_point deadline) {
  fixed_deadline_ = deadline;
}

Status Connection::ReadFully(void* buf, size_t n, bool* clean_eof,
                             std::chrono::steady_clock::time_point deadline) {
  if (ssl_ != nullptr) return ReadTls(static_cast<char*>(buf), n, clean_eof, deadline);
  size_t got = 0;
  auto* p = static_cast<char*>(buf);
  while (got < n) {
    if (deadline != std::chrono::steady_clock::time_point{}) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count()) + 1) : 0;
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return Status::IOError("receive from " + peer_ + " timed out");
    }
    const ssize_t r = ::recv(fd_, p + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("receive from " + peer_, errno);
    }
    if (r == 0) {
      if (got == 0 && clean_eof != nullptr) *clean_eof = true;
      return Status::NotFound("connection closed by " + peer_);
    }
    got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Result<std::unique_ptr<InMessage>> Connection::Receive() {
  // The handshake's deadline covers every frame; after it, a peer may stay idle between
  // frames, but a frame once begun must arrive whole within receive_timeout_.
  auto deadline = fixed_deadline_;
  uint8_t header[4];
  bool clean = false;
  Status s = ReadFully(header, 1, &clean, deadline);
  if (!s.ok()) return s;
  if (deadline == std::chrono::steady_clock::time_point{} && receive_timeout_.count() > 0) {
    deadline = std::chrono::steady_clock::now() + receive_timeout_;
  }
  s = ReadFully(header + 1, 3, nullptr, deadline);
  if (!s.ok())
    return s.code() == Status::Code::kNotFound
               ? Status::IOError("connection to " + peer_ + " closed mid-frame")
               : s;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(header[i]) << (8 * i);
  if (n == 0 || n % sizeof(capnp::word) != 0 || n > max_frame_) {
    return Status::Corruption("bad frame of " + std::to_string(n) + " bytes from " + peer_ +
                              " (limit " + std::to_string(max_frame_) +
                              "; not a Segflow peer, or a different protocol)");
  }
  // The buffer grows with the bytes that arrive (doubling from 64 KiB), never to the size
  // the header announces: a peer that announces 64 MiB and sends nothing costs nothing.
  std::vector<capnp::word> words;
  size_t have = 0;
  while (have < n) {
    const size_t chunk = std::min<size_t>(n - have, std::max<size_t>(64u << 10, have));
    // Grown by copy, not resize(): capnp::word cannot be moved, so resize() does not
    // compile under clang's libstdc++ checks (the fuzz build).
    std::vector<capnp::word> grown((have + chunk) / sizeof(capnp::word));
    if (have > 0) std::memcpy(grown.data(), words.data(), have);
    words.swap(grown);
    s = ReadFully(reinterpret_cast<char*>(words.data()) + have, chunk, nullptr, deadline);
    if (!s.ok()) {
      return s.code() == Status::Code::kNotFound
                 ? Status::IOError("connection to " + peer_ + " closed mid-frame")
                 : s;
    }
    have += chunk;
  }
  try {
    return std::make_unique<InMessage>(std::move(words),
                                       uint64_t{max_frame_} / sizeof(capnp::word) * 2);
  } catch (const kj::Exception& e) {
    return Status::Corruption("undecodable message from " + peer_ + ": " +
                              e.getDescription().cStr());
  }
}

void Connection::Close() {
  std::lock_guard<std::mutex> lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  ::shutdown(fd_, SHUT_RDWR);
}

std::string Connection::LocalHost() const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "127.0.0.1";
  asio::ip::tcp::endpoint ep;
  std::memcpy(ep.data(), &addr, std::min<size_t>(len, ep.capacity()));
  ep.resize(len);
  return ep.address().to_string();
}

Result<std::unique_ptr<Listener>> Listener::Bind(const HostPort& at) {
  asio::error_code ec;
  asio::ip::tcp::resolver resolver(SyncContext());
  auto endpoints = resolver.resolve(at.host, std::to_string(at.port), ec);
  if (ec) return Status::InvalidArgument("cannot resolve " + at.host + ": " + ec.message());
  asio::ip::tcp::acceptor acceptor(SyncContext());
  const auto ep = endpoints.begin()->endpoint();
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (ec == asio::error::address_in_use) {
    return Status::Busy(
        "cannot listen on " + at.ToString() +
        ": address already in use (another process has that port: pick another, or port 0)");
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + at.ToString() + ": " + ec.message());
  const auto local = acceptor.local_endpoint(ec);
  HostPort bound{at.host, local.port()};
  const int fd = acceptor.release(ec);
  if (ec) return Status::IOError("listen on " + at.ToString() + ": " + ec.message());
  return std::unique_ptr<Listener>(new Listener(fd, bound));
}

Listener::~Listener() {
  Close();
  ::close(fd_);
}

Result<std::unique_ptr<Connection>> Listener::Accept(std::chrono::milliseconds send_timeout) {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (closed_.load()) {
      if (fd >= 0) ::close(fd);
      return Status::Cancelled("listener closed");
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return Status::FromErrno("accept on " + local_.ToString(), errno);
    }
    asio::ip::tcp::endpoint ep;
    std::memcpy(ep.data(), &addr, std::min<size_t>(len, ep.capacity()));
    ep.resize(len);
    return std::make_unique<Connection>(fd, EndpointText(ep), send_timeout);
  }
}

void Listener::Close() {
  if (closed_.exchange(true)) return;
  ::shutdown(fd_, SHUT_RDWR);  // wakes a blocked accept(2)
}

}  // namespace segflow::net
