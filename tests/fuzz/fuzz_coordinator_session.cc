// Fuzzes the coordinator's wire message handlers (coordinator/coordinator.cc Serve,
// ServeWorker and OnWorkerMessage: prepared, done, checkpoint acks, reports, heartbeats;
// coordinator/client_service.cc: submit, status, savepoint, cancel) through a real
// coordinator on 127.0.0.1, fresh for each input (its folder and data root emptied), as
// an authenticated peer that sends well-framed but arbitrary messages.
//
// Input: byte 0 picks the role of the Hello the target sends first (bit 0: worker, else
// client); then chunks of a u16 little-endian word count and that many 8-byte words
// (truncated to what is left), each sent as one frame. The target then closes its sending
// side and reads until the coordinator closes the connection, so each input is handled
// completely before the next; the coordinator is shut down, joining all its threads.
#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "coordinator/coordinator.h"
#include "engine/net/auth.h"
#include "engine/net/connection.h"
#include "engine/schema/cluster.capnp.h"
#include "fuzz_util.h"

namespace fs = std::filesystem;

using segflow::fuzz::AppendFrame;
using segflow::fuzz::WriteAll;

// A fuzzed job may name any host (a Kafka bootstrap): loopback only.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  segflow::fuzz::IsolateNetwork("fuzz_coordinator_session");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string base = segflow::fuzz::ScratchDir() + "/coordinator";
  std::error_code ec;
  fs::remove_all(base, ec);
  fs::create_directories(base + "/data", ec);
  segflow::coordinator::CoordinatorOptions options;
  options.listen = segflow::net::HostPort{"127.0.0.1", 0};
  options.dir = base + "/state";
  options.data_roots = {base + "/data"};
  options.credentials = std::make_shared<const segflow::net::Credentials>();
  segflow::coordinator::Coordinator coordinator(options);
  if (segflow::Status s = coordinator.Start(); !s.ok()) {
    std::fprintf(stderr, "fuzz_coordinator_session: cannot start: %s\n", s.ToString().c_str());
    std::abort();
  }
  // The socket is opened here and handed to a Connection as a duplicate: the Connection
  // runs the handshake and sends the Hello; the fuzzed frames go out on the original as
  // they are (a Connection only sends messages it built).
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(coordinator.address().port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("fuzz_coordinator_session: connect");
    std::abort();
  }
  {
    segflow::net::Connection conn(::dup(fd), "coordinator", std::chrono::milliseconds(10000));
    if (segflow::Status s = segflow::net::AuthenticateAsClient(conn, *options.credentials);
        !s.ok()) {
      std::fprintf(stderr, "fuzz_coordinator_session: handshake: %s\n", s.ToString().c_str());
      std::abort();
    }
    capnp::MallocMessageBuilder hello;
    auto h = hello.initRoot<segflow::wire::ControlMessage>().initHello();
    h.setVersion(segflow::wire::PROTOCOL_VERSION);
    h.setRole((data[0] & 1) ? segflow::wire::Role::WORKER : segflow::wire::Role::CLIENT);
    bool open = conn.Send(hello).ok();
    // One write for all frames (with a write per header and body, Nagle's algorithm and
    // delayed acks cost 40 ms a frame).
    std::string stream;
    for (size_t at = 1; at + 2 <= size;) {
      size_t words = data[at] | (size_t{data[at + 1]} << 8);
      at += 2;
      words = std::min(words, (size - at) / 8);
      if (words == 0) continue;  // an empty frame is refused before any handler
      AppendFrame(&stream, reinterpret_cast<const char*>(data + at), words * 8);
      at += words * 8;
    }
    if (open) (void)WriteAll(fd, stream.data(), stream.size());
    ::shutdown(fd, SHUT_WR);
    // Until the coordinator closes: every message handled (replies are dropped).
    char sink[4096];
    while (::recv(fd, sink, sizeof(sink), 0) > 0) {
    }
    ::close(fd);
  }  // the Connection closes the duplicate
  coordinator.Shutdown();
  return 0;
}
