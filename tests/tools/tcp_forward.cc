// segflow_tcp_forward LISTEN_HOST:PORT=TARGET_HOST:PORT...: a test tool that forwards every
// TCP connection accepted on each LISTEN address to its TARGET, bytes both ways, until
// either side closes. Tests put it in network namespaces they create, to reach a server
// that only listens on another namespace's 127.0.0.1 (librdkafka's mock brokers bind and
// advertise 127.0.0.1). Prints "forwarding" once every address listens; runs until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

bool ParseAddress(const std::string& text, sockaddr_in* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  const int port = std::atoi(text.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return false;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

// Copies `from` to `to` until EOF or an error, then half-closes `to`.
void Pump(int from, int to) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(from, buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(to, buf + done, static_cast<size_t>(n - done));
      if (w <= 0) {
        ::shutdown(to, SHUT_WR);
        return;
      }
      done += w;
    }
  }
  ::shutdown(to, SHUT_WR);
}

void Serve(int listener, sockaddr_in target) {
  for (;;) {
    const int in = ::accept(listener, nullptr, nullptr);
    if (in < 0) continue;
    const int out = ::socket(AF_INET, SOCK_STREAM, 0);
    if (out < 0 || ::connect(out, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
      ::close(in);
      if (out >= 0) ::close(out);
      continue;
    }
    const int one = 1;
    ::setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::thread([in, out] {
      std::thread back(Pump, out, in);
      Pump(in, out);
      back.join();
      ::close(in);
      ::close(out);
    }).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LISTEN_HOST:PORT=TARGET_HOST:PORT...\n", argv[0]);
    return 2;
  }
  std::vector<std::thread> servers;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    sockaddr_in listen_at{}, target{};
    if (eq == std::string::npos || !ParseAddress(arg.substr(0, eq), &listen_at) ||
        !ParseAddress(arg.substr(eq + 1), &target)) {
      std::fprintf(stderr, "%s: expected LISTEN_HOST:PORT=TARGET_HOST:PORT, got \"%s\"\n", argv[0],
                   argv[i]);
      return 2;
    }
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&listen_at), sizeof(listen_at)) != 0 ||
        ::listen(s, 64) != 0) {
      std::fprintf(stderr, "%s: cannot listen on %s: %s\n", argv[0], arg.substr(0, eq).c_str(),
                   std::strerror(errno));
      return 1;
    }
    servers.emplace_back(Serve, s, target);
  }
  std::printf("forwarding\n");
  std::fflush(stdout);
  for (auto& t : servers) t.join();
  return 0;
}
