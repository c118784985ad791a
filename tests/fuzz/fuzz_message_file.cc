// Fuzzes the single-message file reader (engine/state/message_file): the input as the
// whole file (first byte even), or as the message behind a header whose CRC checks (odd),
// then read as the checkpoint's _metadata root.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/schema/checkpoint.capnp.h"
#include "engine/state/message_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string path = segflow::fuzz::ScratchDir() + "/message";
  segflow::fuzz::WriteBytes(
      path, data[0] & 1 ? segflow::fuzz::MessageFileBytes(body) : std::string(body));
  auto file = segflow::MessageFile::Read(path);
  if (!file.ok()) return 0;
  try {
    segflow::fuzz::VisitAllFields((*file)->Root<segflow::schema::CheckpointMetadata>());
  } catch (const kj::Exception&) {
    // What the readers report as Corruption.
  }
  return 0;
}
