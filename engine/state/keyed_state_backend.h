// KeyedStateBackend: the keyed state of one keyed subtask, in one RocksDB instance.
//
// * The subtask owns a KeyGroupRange; every access outside it fails with OutOfRange.
// * Each named state is a column family. Keys are `[key group: 2 bytes BE][user]`
//   (state_key.h), so the subtask's state is a set of contiguous ranges.
// * Durability comes only from snapshots: writes skip the WAL, and the working directory
//   is scratch — Open wipes it, and a restart recovers with Restore from the last
//   completed snapshot. RocksDB options are tuned for a write-heavy workload (large
//   memtables, bloom filters for the many point misses of new users, LZ4).
// * Snapshot(dir) flushes every registered StateFlushable (value caches, timers), then
//   writes a RocksDB checkpoint (SST files hard-linked: incremental on one filesystem)
//   and the metadata file (snapshot_metadata.h).
// * Restore(snapshots, dir, range) builds a working copy serving `range` from one or more
//   snapshots, whatever their key-group split: rescaling filters whole ranges.
//
// Threading: owned by its subtask's thread; not safe for concurrent use, except for the
// asynchronous snapshot (SnapshotStored).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/common/status.h"

namespace rocksdb {
class Cache;
class ColumnFamilyHandle;
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace segflow {

struct KeyedStateOptions {
  uint32_t max_parallelism = kDefaultMaxParallelism;  // at most kMaxStateMaxParallelism
  size_t write_buffer_bytes = 32u << 20;              // memtable size per column family
  size_t block_cache_bytes = 64u << 20;               // shared by all column families
};

// Where a state's keys carry their key group.
struct StateLayout {
  // Byte offset of the 2-byte big-endian key group in every key. 0 for ordinary keyed
  // state; states ordered by something else first (timers) store it further in, and
  // are filtered key by key on restore instead of by range.
  uint32_t key_group_offset = 0;
};

// Something that buffers state in memory and must write it to the backend before a
// snapshot (KeyedValueCache, TimerService). Registered with AddFlushable.
class StateFlushable {
 public:
  virtual ~StateFlushable() = default;
  virtual Status Flush() = 0;
};

// Index of a registered state (column family) in its backend.
using StateId = uint32_t;

class KeyedStateBackend;

// Writes applied atomically by KeyedStateBackend::Write. Errors (a key group out of the
// backend's range) are remembered and returned by Write.
class StateWriteBatch {
 public:
  explicit StateWriteBatch(KeyedStateBackend* backend);
  ~StateWriteBatch();
  StateWriteBatch(const StateWriteBatch&) = delete;
  StateWriteBatch& operator=(const StateWriteBatch&) = delete;

  void Put(StateId state, uint32_t key_group, std::string_view user, std::string_view value);
  void Delete(StateId state, uint32_t key_group, std::string_view user);
  // Keys already in the state's layout (e.g. from EncodeStateKey or a timer key).
  void PutRaw(StateId state, std::string_view key, std::string_view value);
  void DeleteRaw(StateId state, std::string_view key);

  size_t count() const;
  size_t bytes() const;
  void Clear();

 private:
  friend class KeyedStateBackend;
  KeyedStateBackend* backend_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  std::string key_;
  Status status_;
};

class KeyedStateBackend {
 public:
  // Visits (key group, user, value) in key order.
  using Visitor =
      std::function<Status(uint32_t key_group, std::string_view user, std::string_view value)>;
  using RawVisitor = std::function<Status(std::string_view key, std::string_view value)>;

  // A fresh, empty backend in `dir`. An existing directory is wiped if it holds an earlier
  // backend; any other non-empty directory is refused (FailedPrecondition).
  static Result<std::unique_ptr<KeyedStateBackend>> Open(const std::string& dir,
                                                         KeyGroupRange key_groups,
                                                         const KeyedStateOptions& options = {});

  // A backend in `dir` (prepared as by Open) holding exactly the state of `key_groups`
  // from `snapshot_dirs`. The snapshots' ranges must together cover `key_groups`, with
  // the same max_parallelism; snapshots not intersecting it are ignored. The snapshots
  // are never modified (SST files are hard-linked, everything else copied).
  static Result<std::unique_ptr<KeyedStateBackend>> Restore(
      const std::vector<std::string>& snapshot_dirs, const std::string& dir,
      KeyGroupRange key_groups, const KeyedStateOptions& options = {});

  ~KeyedStateBackend();
  KeyedStateBackend(const KeyedStateBackend&) = delete;
  KeyedStateBackend& operator=(const KeyedStateBackend&) = delete;

  // The state called `name` (letters, digits, "_-."; not "default"), created if missing.
  // Registering an existing name returns the same id; a different layout is refused.
  Result<StateId> RegisterState(std::string_view name, StateLayout layout = {});

  // NotFound when absent.
  Status Get(StateId state, uint32_t key_group, std::string_view user, std::string* value);
  Status Put(StateId state, uint32_t key_group, std::string_view user, std::string_view value);
  Status Delete(StateId state, uint32_t key_group, std::string_view user);
  // Raw key in the state's layout; the caller checks its key group.
  Status GetRaw(StateId state, std::string_view key, std::string* value);
  Status Write(StateWriteBatch* batch);

  // Every entry of a key-group-prefixed state in `key_groups` ∩ this backend's range.
  // The first non-OK status from `fn` stops the scan and is returned.
  Status ForEach(StateId state, KeyGroupRange key_groups, const Visitor& fn);
  // Every entry of any state whose key group is in this backend's range, in key order.
  Status ForEachRaw(StateId state, const RawVisitor& fn);

  // Flushables are flushed, in registration order, by FlushAll and Snapshot. They must
  // unregister before they are destroyed.
  void AddFlushable(StateFlushable* f);
  void RemoveFlushable(StateFlushable* f);
  Status FlushAll();

  // Writes a snapshot to `dir`, which must not exist yet (its parent is created).
  Status Snapshot(const std::string& dir);
  // The same without flushing the flushables first: a snapshot of what RocksDB holds.
  // With Write, the one pair of calls that may run on another thread, while the owner
  // thread only reads (Get/GetRaw; RocksDB is thread-safe and neither touches scratch
  // members): the asynchronous half of a snapshot (KeyedValueCache::DrainForSnapshot).
  Status SnapshotStored(const std::string& dir);

  // Rewrites the SST files that hold any of `keys` (raw keys of `state`, already deleted
  // through Write), down to the last level, so that their old values are gone from the
  // files rather than only shadowed by tombstones: no later snapshot hard-links a file
  // with them (earlier snapshots keep theirs). For erasures (`segflow forget`): costs a
  // flush and a manual compaction of each key's range. May run on the snapshot thread,
  // like SnapshotStored.
  Status PurgeDeleted(StateId state, const std::vector<std::string>& keys);

  const KeyGroupRange& key_groups() const { return key_groups_; }
  uint32_t max_parallelism() const { return max_parallelism_; }
  const std::string& dir() const { return dir_; }
  bool Owns(uint32_t key_group) const { return key_groups_.Contains(key_group); }
  // OK, or OutOfRange naming the key group and this backend's range.
  Status CheckKeyGroup(uint32_t key_group) const;

 private:
  friend class StateWriteBatch;
  struct StateInfo {
    std::string name;
    StateLayout layout;
    rocksdb::ColumnFamilyHandle* handle = nullptr;
  };

  KeyedStateBackend(std::string dir, KeyGroupRange key_groups, const KeyedStateOptions& options);
  static Status Validate(KeyGroupRange key_groups, const KeyedStateOptions& options);
  static Result<std::unique_ptr<KeyedStateBackend>> OpenDb(
      const std::string& dir, KeyGroupRange key_groups, const KeyedStateOptions& options,
      std::map<std::string, uint32_t> known_layouts);
  Status CheckState(StateId state) const;
  // Drops every key outside this backend's range, given that the data held `had`.
  Status DropForeignKeyGroups(KeyGroupRange had);
  // Copies the keys of this backend's range from the open snapshot copy `src`.
  Status ImportFrom(rocksdb::DB* src,
                    const std::map<std::string, rocksdb::ColumnFamilyHandle*>& src_handles,
                    const std::map<std::string, uint32_t>& layouts);

  std::string dir_;
  KeyGroupRange key_groups_;
  uint32_t max_parallelism_;
  KeyedStateOptions options_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  std::vector<StateInfo> states_;            // indexed by StateId; every column family but default
  std::map<std::string, uint32_t> layouts_;  // column family name -> key_group_offset
  std::vector<StateFlushable*> flushables_;
  std::string key_;  // scratch for key encoding
};

}  // namespace segflow
