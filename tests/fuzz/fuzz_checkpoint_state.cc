// Fuzzes the checkpoint and savepoint readers (operators/runtime/checkpoint_state): the
// first byte picks the file (a source file, a keyed task's .meta, the sink file or
// _metadata), the rest is its message behind a header whose CRC checks (or the whole raw
// file when the byte's high bit is set); then every reader of the folder runs.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "operators/runtime/checkpoint_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string dir = segflow::fuzz::ScratchDir() + "/chk";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string path;
  switch (data[0] & 3) {
    case 0:
      path = segflow::SourceCheckpointFile(dir, 0);
      break;
    case 1:
      path = segflow::KeyedCheckpointFile(dir, 0);
      break;
    case 2:
      path = segflow::SinkCheckpointFile(dir);
      break;
    default:
      path = dir + "/_metadata";
      break;
  }
  segflow::fuzz::WriteBytes(
      path, data[0] & 0x80 ? std::string(body) : segflow::fuzz::MessageFileBytes(body));
  (void)segflow::ReadSourceCheckpoints(dir);
  (void)segflow::ReadKeyedProgress(dir);
  (void)segflow::KeyedSnapshotDirs(dir);
  (void)segflow::ReadSinkCheckpoint(dir);
  (void)segflow::ReadCheckpointJobText(dir);
  return 0;
}
