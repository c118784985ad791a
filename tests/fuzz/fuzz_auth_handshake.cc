// Fuzzes the authentication handshake (engine/net/auth.cc) and the frame reading under it
// (engine/net/connection.cc Receive) as a peer would drive them: the bytes after the first
// are everything the peer sends (u32 frame headers and Cap'n Proto bodies), delivered on a
// socket pair that then reaches end of file. The first byte picks the side (accepting or
// connecting) and whether this process holds a secret. Past a handshake that succeeds
// (possible without a secret), the remaining frames are received under the authenticated
// limits and read as control messages, as a coordinator's or worker's session would.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "engine/net/auth.h"
#include "engine/net/connection.h"
#include "engine/schema/cluster.capnp.h"
#include "fuzz_util.h"

namespace {

// A socket pair's buffer holds this much without a reader; the rest of a longer input is
// dropped (the handshake frame limit is 64 KiB, so nothing of interest is lost).
constexpr size_t kMaxStream = 96u << 10;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool accepting = (data[0] & 1) != 0;
  segflow::net::Credentials credentials;
  if ((data[0] & 2) != 0) credentials.secret = "fuzz-secret-0123456789abcdef";
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  // The peer's bytes, queued before the handshake starts; non-blocking, so a full buffer
  // truncates instead of hanging.
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
  const uint8_t* p = data + 1;
  size_t left = std::min(size - 1, kMaxStream);
  while (left > 0) {
    const ssize_t n = ::write(fds[1], p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::shutdown(fds[1], SHUT_WR);
  {
    segflow::net::Connection conn(fds[0], "fuzz-peer", std::chrono::milliseconds(1000));
    const segflow::Status s = accepting ? segflow::net::AuthenticateAsServer(conn, credentials)
                                        : segflow::net::AuthenticateAsClient(conn, credentials);
    if (s.ok()) {
      for (;;) {
        auto msg = conn.Receive();
        if (!msg.ok()) break;
        try {
          segflow::fuzz::VisitAllFields((*msg)->Root<segflow::wire::ControlMessage>());
        } catch (const kj::Exception&) {
          break;  // a session closes the connection on an undecodable message
        }
      }
    }
  }
  ::close(fds[1]);
  return 0;
}
