// Fuzzes the reading of a secret file (engine/net/auth.cc LoadSecretFile): any bytes, and
// when a secret is accepted it is what the file holds less trailing whitespace, at least
// 16 bytes.
#include <sys/stat.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/net/auth.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = segflow::fuzz::ScratchDir() + "/secret";
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  segflow::fuzz::WriteBytes(path, bytes);
  static const bool owner_only = ::chmod(path.c_str(), 0600) == 0;  // else a warning per run
  (void)owner_only;
  auto loaded = segflow::net::LoadSecretFile(path);
  if (!loaded.ok()) return 0;
  const std::string& secret = loaded->secret;
  if (secret.size() < 16 || bytes.compare(0, secret.size(), secret) != 0) std::abort();
  for (size_t i = secret.size(); i < bytes.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(bytes[i]))) std::abort();
  }
  return 0;
}
