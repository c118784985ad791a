// HOST:PORT as given on the command line (`--listen`, `--coordinator`).
#pragma once

#include <cstdint>
#include <string>

#include "engine/common/status.h"

namespace segflow::net {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

// "127.0.0.1:7000", "localhost:0" (port 0: any free port), "[::1]:7000".
Result<HostPort> ParseHostPort(const std::string& text);

}  // namespace segflow::net
