// Helpers shared by the fuzz targets: scratch files for readers that take a path, and
// the checksummed wrappers a fuzzed body needs to get past its CRC to the decoder.
#pragma once

#include <capnp/dynamic.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "engine/log/crc32c.h"

namespace segflow::fuzz {

// A folder of this process's own under the temp dir, created once and removed at exit
// (the path is never freed: the exit handler runs after static destructors).
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::temp_directory_path() / ("segflow-fuzz-" + std::to_string(::getpid())))
            .string());
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline void WriteBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A message file (engine/state/message_file.cc) around `body`: magic "SGMF" and the
// body's CRC32C, so the fuzzed bytes reach the Cap'n Proto decoding.
inline std::string MessageFileBytes(std::string_view body) {
  std::string out(8, '\0');
  const uint32_t magic = 0x464d4753, crc = log::Crc32c(body.data(), body.size());
  std::memcpy(out.data(), &magic, 4);
  std::memcpy(out.data() + 4, &crc, 4);
  out.append(body);
  return out;
}

// Reads every field of a received message as some receiver could: each struct field (the
// set union member, present pointers), each list element, each text and data byte count,
// up to `*budget` values in all. Bounded because a list of zero-sized elements costs its
// sender nothing: a 64-byte message names millions of them within the traversal limit, and
// stringifying those (the earlier kj::str) ran the harness out of memory, not any receiver
// (found by the long run).
inline void VisitBounded(capnp::DynamicValue::Reader value, uint64_t* budget) {
  if (*budget == 0) return;
  --*budget;
  switch (value.getType()) {
    case capnp::DynamicValue::TEXT:
      (void)value.as<capnp::Text>().size();
      break;
    case capnp::DynamicValue::DATA:
      (void)value.as<capnp::Data>().size();
      break;
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) {
        if (*budget == 0) return;
        VisitBounded(element, budget);
      }
      break;
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      for (auto field : s.getSchema().getNonUnionFields()) {
        if (s.has(field)) VisitBounded(s.get(field), budget);
      }
      KJ_IF_MAYBE (field, s.which()) {
        VisitBounded(s.get(*field), budget);
      }
      break;
    }
    default:
      break;  // numbers, bools, enums, void, capabilities: read by getType already
  }
}

// Sends all `n` bytes on a socket (no SIGPIPE); false once the peer is gone.
inline bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Appends one wire frame to `out`: a u32 little-endian length, then the body.
inline void AppendFrame(std::string* out, const char* body, size_t n) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(static_cast<uint32_t>(n) >> (8 * i)));
  out->append(body, n);
}

// Moves this process into a network namespace of its own with only `lo`, up: a fuzzed
// job or plan can name any host (a Kafka bootstrap, a peer worker), and a fuzzer must
// reach nothing but loopback. Call it before any thread starts (LLVMFuzzerInitialize):
// threads made later inherit the namespace. Without CAP_SYS_ADMIN it makes a user
// namespace first (as `unshare -rn` does); if neither works it aborts, naming why.
inline void IsolateNetwork(const char* target) {
  if (::unshare(CLONE_NEWNET) != 0) {
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
      std::fprintf(stderr,
                   "%s: cannot make a network namespace (%s): run as root or enable "
                   "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)\n",
                   target, std::strerror(errno));
      std::abort();
    }
    auto write_file = [](const char* path, const std::string& text) {
      const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
      const bool ok =
          fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      if (fd >= 0) ::close(fd);
      return ok;
    };
    (void)write_file("/proc/self/setgroups", "deny");
    (void)write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1");
    (void)write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1");
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (fd < 0 || ::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 ||
      (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)) {
    std::fprintf(stderr, "%s: cannot bring up lo in its network namespace: %s\n", target,
                 std::strerror(errno));
    std::abort();
  }
  ::close(fd);
}

template <typename Reader>
void VisitAllFields(Reader root, uint64_t budget = 1u << 16) {
  (void)root.totalSize();
  VisitBounded(capnp::DynamicValue::Reader(root), &budget);
}

}  // namespace segflow::fuzz
