// Helpers shared by the fuzz targets: scratch files for readers that take a path, and
// the checksummed wrappers a fuzzed body needs to get past its CRC to the decoder.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
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

}  // namespace segflow::fuzz
