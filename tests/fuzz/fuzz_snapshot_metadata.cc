// Fuzzes the keyed-state snapshot's SNAPSHOT file reader (engine/state/snapshot_metadata).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/state/snapshot_metadata.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = segflow::fuzz::ScratchDir();
  segflow::fuzz::WriteBytes(dir + "/" + segflow::kSnapshotMetadataFile,
                            std::string_view(reinterpret_cast<const char*>(data), size));
  (void)segflow::ReadSnapshotMetadata(dir);
  return 0;
}
