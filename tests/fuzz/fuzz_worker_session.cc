// Fuzzes the worker's wire message handlers (worker/worker.cc HandleMessage: prepare,
// deploy, cancel, checkpoint trigger and completion, audience queries, shutdown; and what
// they start: attempt plans, job parsing, confinement, the audience service) through a
// real worker, fresh for each input (its folder and data root emptied), registered with
// this harness as its coordinator, which then sends well-framed but arbitrary messages.
//
// Input: chunks of a u16 little-endian header and 8-byte words (truncated to what is
// left), each sent as one frame after registration: bits 0-14 the word count, bit 15 the
// channel — 0 the control connection, 1 a data connection to the worker's data server (as
// a peer worker: DataHello, then data frames; the worker's ServeInbound and the attempt
// it adopts the connection into). Control frames go first, then the data frames (their
// connection read until the worker closes it, at most 1 s), then a Shutdown on the control
// connection. The harness reads until the worker closes it, stops the worker and joins it,
// so each input is handled completely before the next. The process runs in a network namespace of
// its own (fuzz_util.h): a fuzzed plan names peers and Kafka brokers anywhere.
#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "engine/net/auth.h"
#include "engine/net/connection.h"
#include "engine/schema/cluster.capnp.h"
#include "fuzz_util.h"
#include "worker/worker.h"

namespace fs = std::filesystem;

namespace {

using segflow::fuzz::AppendFrame;
using segflow::fuzz::WriteAll;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_worker_session: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Accepts the worker's registration: handshake, Hello → HelloReply, RegisterWorker →
// RegisterReply (worker id 1). Returns the worker's data port.
uint16_t Register(segflow::net::Connection& conn) {
  using segflow::wire::ControlMessage;
  if (segflow::Status s = segflow::net::AuthenticateAsServer(conn, segflow::net::Credentials{});
      !s.ok()) {
    Fail("handshake", s.ToString());
  }
  auto hello = conn.Receive();
  if (!hello.ok() || (*hello)->Root<ControlMessage>().which() != ControlMessage::HELLO) {
    Fail("registration", "no Hello from the worker");
  }
  {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<ControlMessage>().initHelloReply();
    r.setOk(true);
    r.setVersion(segflow::wire::PROTOCOL_VERSION);
    if (segflow::Status s = conn.Send(m); !s.ok()) Fail("hello reply", s.ToString());
  }
  auto reg = conn.Receive();
  if (!reg.ok() || (*reg)->Root<ControlMessage>().which() != ControlMessage::REGISTER_WORKER) {
    Fail("registration", "no RegisterWorker from the worker");
  }
  const uint16_t data_port = (*reg)->Root<ControlMessage>().getRegisterWorker().getDataPort();
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<ControlMessage>().initRegisterReply();
  r.setWorkerId(1);
  r.setHeartbeatIntervalMs(200);
  if (segflow::Status s = conn.Send(m); !s.ok()) Fail("register reply", s.ToString());
  return data_port;
}

// -1 when nothing listens: a fuzzed Shutdown among the control frames may have ended the
// worker already.
int ConnectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `stream` on a new, authenticated data connection; reads until the worker closes
// it or 1 s passed (a hello for an attempt not running here waits for it up to 15 s).
void SendData(uint16_t port, const std::string& stream) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return;
  segflow::net::Connection conn(::dup(fd), "worker data", std::chrono::milliseconds(10000));
  if (!segflow::net::AuthenticateAsClient(conn, segflow::net::Credentials{}).ok()) {
    ::close(fd);  // the worker is shutting down
    return;
  }
  (void)WriteAll(fd, stream.data(), stream.size());
  ::shutdown(fd, SHUT_WR);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  char sink[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          until - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1) break;
    if (::recv(fd, sink, sizeof(sink), 0) <= 0) break;
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  segflow::fuzz::IsolateNetwork("fuzz_worker_session");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (std::getenv("SEGFLOW_FUZZ_VERBOSE") != nullptr)
    std::fprintf(stderr, "fuzz_worker_session: input of %zu bytes\n", size);
  const std::string base = segflow::fuzz::ScratchDir() + "/worker";
  std::error_code ec;
  fs::remove_all(base, ec);
  fs::create_directories(base + "/data", ec);
  // The coordinator's listening socket.
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(lfd, 8) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Fail("listen", std::strerror(errno));
  }
  std::atomic<bool> stop{false};
  segflow::worker::WorkerOptions options;
  options.coordinator = segflow::net::HostPort{"127.0.0.1", ntohs(addr.sin_port)};
  options.slots = 4;
  options.dir = base + "/state";
  options.data_roots = {base + "/data"};
  options.connect_attempts = 3;
  options.reconnect_window = std::chrono::milliseconds(2000);
  options.stop = &stop;
  std::atomic<bool> ended{false};
  segflow::Status result;
  std::thread worker([&] {
    result = segflow::worker::RunWorker(options);
    ended.store(true);
  });
  pollfd p{lfd, POLLIN, 0};
  for (int waited = 0; ::poll(&p, 1, 100) != 1; waited += 100) {
    if (ended.load()) Fail("the worker ended before it registered", result.ToString());
    if (waited >= 30000) Fail("accept", "the worker did not connect within 30 s");
  }
  const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) Fail("accept", std::strerror(errno));
  {
    // The Connection runs the handshake and registration; the fuzzed frames go out on the
    // original descriptor as they are (a Connection only sends messages it built).
    segflow::net::Connection conn(::dup(fd), "worker", std::chrono::milliseconds(10000));
    const uint16_t data_port = Register(conn);
    std::string stream, data_stream;
    for (size_t at = 0; at + 2 <= size;) {
      const size_t header = data[at] | (size_t{data[at + 1]} << 8);
      at += 2;
      const size_t words = std::min(header & 0x7fff, (size - at) / 8);
      if (words == 0) continue;  // an empty frame is refused before any handler
      AppendFrame((header & 0x8000) ? &data_stream : &stream,
                  reinterpret_cast<const char*>(data + at), words * 8);
      at += words * 8;
    }
    (void)WriteAll(fd, stream.data(), stream.size());
    stream.clear();
    if (!data_stream.empty()) SendData(data_port, data_stream);
    {
      capnp::MallocMessageBuilder m;
      m.initRoot<segflow::wire::ControlMessage>().setShutdown();
      auto words = capnp::messageToFlatArray(m);
      auto bytes = words.asChars();
      AppendFrame(&stream, bytes.begin(), bytes.size());
    }
    (void)WriteAll(fd, stream.data(), stream.size());
    ::shutdown(fd, SHUT_WR);
    // Until the worker closes: every message handled. Its replies are dropped, or with
    // SEGFLOW_FUZZ_VERBOSE set printed (to check what a seed reaches).
    if (std::getenv("SEGFLOW_FUZZ_VERBOSE") != nullptr) {
      for (;;) {
        auto reply = conn.Receive();
        if (!reply.ok()) break;
        auto root = (*reply)->Root<segflow::wire::ControlMessage>();
        std::fprintf(stderr, "fuzz_worker_session: worker sent %u",
                     static_cast<unsigned>(root.which()));
        if (root.isPrepared()) {
          std::fprintf(stderr, " prepared ok=%d %s", root.getPrepared().getOk(),
                       root.getPrepared().getError().cStr());
        }
        if (root.isDone()) std::fprintf(stderr, " done %s", root.getDone().getError().cStr());
        std::fprintf(stderr, "\n");
      }
    }
    char sink[4096];
    while (::recv(fd, sink, sizeof(sink), 0) > 0) {
    }
    ::close(fd);
  }  // the Connection closes the duplicate
  // A worker that dropped the connection (a bad frame) registers again: refuse it, stop it.
  ::close(lfd);
  stop.store(true);
  worker.join();
  return 0;
}
