// The small metadata file of a keyed-state snapshot. A snapshot directory holds
// `db/` (a RocksDB checkpoint) and `SNAPSHOT` (this file), written last and atomically:
// a directory without it is an incomplete snapshot and is refused.
//
// Text, one fact per line, versioned on its first line; unknown versions are refused:
//   segflow-keyed-state-snapshot 1
//   max_parallelism 128
//   key_groups 0 63
//   state <name> <key_group_offset>     (one per column family)
//   end
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/common/status.h"

namespace segflow {

constexpr char kSnapshotMetadataFile[] = "SNAPSHOT";
constexpr char kSnapshotDbDir[] = "db";
constexpr uint32_t kSnapshotFormatVersion = 1;

struct SnapshotStateInfo {
  std::string name;
  uint32_t key_group_offset = 0;
};

struct SnapshotMetadata {
  uint32_t max_parallelism = 0;
  KeyGroupRange key_groups;
  std::vector<SnapshotStateInfo> states;
};

// Writes `dir`/SNAPSHOT durably (temp file, fsync, rename, fsync of `dir`).
Status WriteSnapshotMetadata(const std::string& dir, const SnapshotMetadata& meta);
Result<SnapshotMetadata> ReadSnapshotMetadata(const std::string& dir);

// fsync of a directory, making the entries created in it durable.
Status FsyncDirectory(const std::string& dir);

// Durably writes `contents` to `path` (temp + fsync + rename + directory fsync).
Status WriteFileDurably(const std::string& path, const std::string& contents);

}  // namespace segflow
