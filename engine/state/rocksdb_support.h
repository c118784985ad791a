// Internal to engine/state: RocksDB options and file helpers shared by the backend's
// open, snapshot and restore paths. Not part of the engine's API.
#pragma once

#include <memory>
#include <string>

#include <rocksdb/options.h>
#include <rocksdb/status.h>

#include "engine/common/status.h"
#include "engine/state/keyed_state_backend.h"

namespace segflow::state_internal {

// Marks a directory as a backend's scratch working directory, which Open may wipe.
constexpr char kWorkDirMarker[] = "SEGFLOW_KEYED_STATE";

Status FromRocks(const rocksdb::Status& s, const std::string& what);

// Options for a write-heavy keyed-state workload whose durability comes from snapshots.
rocksdb::Options StateDbOptions(const KeyedStateOptions& options,
                                const std::shared_ptr<rocksdb::Cache>& block_cache);
// Writes skip the WAL: state is durable only through snapshots.
rocksdb::WriteOptions StateWriteOptions();

// Empties `dir` for a new backend (see KeyedStateBackend::Open) and marks it.
Status PrepareWorkDir(const std::string& dir);

// Copies the RocksDB directory `src` to the new directory `dst` without sharing mutable
// files: SST and blob files (immutable) are hard-linked, or copied across filesystems;
// MANIFEST, CURRENT, OPTIONS and logs are copied, so opening `dst` never changes `src`.
Status CopyDbDir(const std::string& src, const std::string& dst);

}  // namespace segflow::state_internal
