#include "engine/net/host_port.h"

#include <charconv>

namespace segflow::net {

Result<HostPort> ParseHostPort(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("\"" + text + "\" is not HOST:PORT (" + why +
                                   "), e.g. 127.0.0.1:7000 or localhost:0");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no ':'");
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  if (hp.host.empty()) return bad("empty host");
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || value > 65535) {
    return bad("port must be 0..65535");
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

}  // namespace segflow::net
