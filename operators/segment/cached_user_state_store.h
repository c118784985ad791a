// CachedUserStateStore: the users' SegmentProgram states of one keyed subtask in its
// KeyedStateBackend (RocksDB; one column family, keys prefixed by key group), with a
// write-back KeyedValueCache in front so the hot path touches memory, not RocksDB.
//
// States are serialized with SegmentProgram::Serialize. Every state handed out by Find
// or Insert counts as modified; Sync (and any backend snapshot) writes them back.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/common/status.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state/keyed_value_cache.h"
#include "operators/segment/program.h"
#include "operators/segment/user_state_store.h"

namespace segflow {

class CachedUserStateStore final : public UserStateStore {
 public:
  static constexpr std::string_view kStateName = "segment_users";

  // `backend` must outlive the store. `cache_entries` bounds the deserialized states
  // kept in memory.
  static Result<std::unique_ptr<CachedUserStateStore>> Open(
      std::shared_ptr<const SegmentProgram> program, KeyedStateBackend* backend,
      size_t cache_entries);

  Result<UserState*> Find(std::string_view user) override;
  Result<UserState*> Insert(std::string_view user, std::unique_ptr<UserState> state) override;
  // No RocksDB read (a new user's state is in no backing file): one cache insert.
  Result<UserState*> InsertNew(std::string_view user, std::unique_ptr<UserState> state) override;
  // The user's state deleted from the cache (a dirty entry included) and, with the next
  // write-back, from RocksDB; false (and nothing written) when the user has none. Users
  // outside the backend's key groups have no state here: false. During a snapshot hold
  // the deletion stays in the cache, after the drained batch (see KeyedValueCache): the
  // snapshot in flight may hold the old state, the next one does not.
  Result<bool> Erase(std::string_view user) override;
  Status Sync() override { return cache_.Flush(); }
  Status ForEach(const std::function<Status(std::string_view, const UserState&)>& fn) override;
  // Users inserted through this store (restored users are not counted).
  size_t size() const override { return inserted_; }
  uint64_t epoch() const override { return cache_.epoch(); }

  KeyedValueCacheStats cache_stats() const { return cache_.stats(); }

  // Asynchronous snapshots (see KeyedValueCache): every dirty state encoded into `batch`;
  // no eviction or write-back until EndSnapshotHold.
  Status DrainForSnapshot(StateWriteBatch* batch) { return cache_.DrainForSnapshot(batch); }
  void EndSnapshotHold() { cache_.EndSnapshotHold(); }

  // The raw keys (in state_id()) of the users erased since the last call. Taken right
  // after DrainForSnapshot, their deletions are in RocksDB once the drained batch is
  // written: then KeyedStateBackend::PurgeDeleted removes the old rows from the files
  // before the snapshot is taken.
  std::vector<std::string> TakeErasedKeys() { return std::exchange(erased_keys_, {}); }
  StateId state_id() const { return state_; }

 private:
  CachedUserStateStore(std::shared_ptr<const SegmentProgram> program, KeyedStateBackend* backend,
                       StateId state, size_t cache_entries);
  uint32_t KeyGroupOf(std::string_view user) const;

  std::shared_ptr<const SegmentProgram> program_;
  KeyedStateBackend* backend_;
  StateId state_;
  KeyedValueCache<UserState> cache_;
  size_t inserted_ = 0;
  std::vector<std::string> erased_keys_;
};

}  // namespace segflow
