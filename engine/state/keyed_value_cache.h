// KeyedValueCache<T>: deserialized per-user objects in front of one state of a
// KeyedStateBackend, so the hot path of a keyed operator touches memory, not RocksDB
// (raw RocksDB does a few hundred thousand writes/s per thread; an event needs a read and
// a write).
//
// Contract:
// * Get loads a missing entry from RocksDB (a miss also caches "absent"); GetOrCreate
//   creates it. Callers mutate the object in place and then call MarkDirty.
// * A returned T* stays valid until the next Get, GetOrCreate or Erase on this cache (any
//   of which may evict). Flush and MarkDirty never evict.
// * epoch() changes on every eviction, Erase and Flush. While it does not change, every
//   T* handed out since it last changed is still cached (and, if it was handed out for
//   update, still dirty), so a caller may keep using it without another lookup.
// * At most `capacity` entries are cached (absent markers included). Making room evicts
//   the least recently used entries, about capacity/16 at a time, writing the dirty ones
//   back in one WriteBatch first.
// * Flush writes back every dirty entry and keeps them cached. The backend calls it before
//   a snapshot (the cache registers itself). Dirty entries not flushed when the cache is
//   destroyed are dropped: state is durable only through snapshots.
// * Asynchronous snapshots: DrainForSnapshot encodes every dirty entry into a batch and
//   marks them clean without writing; the caller writes the batch and snapshots RocksDB on
//   another thread, then calls EndSnapshotHold. In between nothing is evicted and nothing
//   is written (the cache may grow past `capacity`): a clean entry dropped then could be
//   read back from RocksDB older than the batch, and a write-back would leak into the
//   snapshot. Lookups of uncached keys may read RocksDB meanwhile (none is in the batch).
// * Serialization is the user's: `encode(const T&, std::string*)` appends the bytes,
//   `decode(bytes, &out)` returns Corruption on bad input.
//
// Threading: one owner thread, like its backend.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/common/status.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state/state_key.h"

namespace segflow {

struct KeyedValueCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;       // lookups that read RocksDB (or created the entry)
  uint64_t evictions = 0;
  uint64_t write_backs = 0;  // dirty entries written to RocksDB (eviction or Flush)
};

template <typename T>
class KeyedValueCache final : public StateFlushable {
 public:
  using Encode = std::function<void(const T&, std::string*)>;
  using Decode = std::function<Status(std::string_view, std::unique_ptr<T>*)>;
  using Visitor = std::function<Status(uint32_t key_group, std::string_view user, const T& value)>;

  KeyedValueCache(KeyedStateBackend* backend, StateId state, Encode encode, Decode decode,
                  size_t capacity)
      : backend_(backend),
        state_(state),
        encode_(std::move(encode)),
        decode_(std::move(decode)),
        capacity_(std::max<size_t>(capacity, 1)) {
    lru_.prev = lru_.next = &lru_;
    map_.reserve(std::min<size_t>(capacity_, size_t{1} << 20));
    backend_->AddFlushable(this);
  }
  ~KeyedValueCache() override { backend_->RemoveFlushable(this); }
  KeyedValueCache(const KeyedValueCache&) = delete;
  KeyedValueCache& operator=(const KeyedValueCache&) = delete;

  // The value of (key_group, user), or nullptr when it has none.
  Result<T*> Get(uint32_t key_group, std::string_view user) {
    Entry* e = nullptr;
    SEGFLOW_RETURN_IF_ERROR(Lookup(key_group, user, &e));
    return e->value.get();
  }

  // Get for a caller about to modify the value: a present value is marked dirty.
  Result<T*> GetForUpdate(uint32_t key_group, std::string_view user) {
    Entry* e = nullptr;
    SEGFLOW_RETURN_IF_ERROR(Lookup(key_group, user, &e));
    if (e->value != nullptr) SetDirty(e);
    return e->value.get();
  }

  // The value of (key_group, user), created with `make()` (and marked dirty) if it has none.
  template <typename Make>
  Result<T*> GetOrCreate(uint32_t key_group, std::string_view user, Make&& make) {
    Entry* e = nullptr;
    SEGFLOW_RETURN_IF_ERROR(Lookup(key_group, user, &e));
    if (e->value == nullptr) {
      e->value = make();
      SetDirty(e);
    }
    return e->value.get();
  }
  Result<T*> GetOrCreate(uint32_t key_group, std::string_view user) {
    return GetOrCreate(key_group, user, [] { return std::make_unique<T>(); });
  }

  // Sets the value of (key_group, user), which the caller knows has none in RocksDB (a key
  // never written there): no read. FailedPrecondition if a value is cached.
  Result<T*> Create(uint32_t key_group, std::string_view user, std::unique_ptr<T> value) {
    SEGFLOW_RETURN_IF_ERROR(backend_->CheckKeyGroup(key_group));
    EncodeStateKey(key_group, user, &key_);
    Entry* e = FindEncoded();
    if (e == nullptr) {
      SEGFLOW_RETURN_IF_ERROR(MakeRoom());
      e = Insert(nullptr);
    } else if (e->value != nullptr) {
      return Status::FailedPrecondition("Create of a key that has a value");
    } else {
      Touch(e);
    }
    e->value = std::move(value);
    SetDirty(e);
    return e->value.get();
  }

  // Records that the cached value of (key_group, user) changed. FailedPrecondition if it
  // is not cached (it must have been returned by Get/GetOrCreate since the last eviction).
  Status MarkDirty(uint32_t key_group, std::string_view user) {
    Entry* e = Find(key_group, user);
    if (e == nullptr) return Status::FailedPrecondition("MarkDirty on an entry that is not cached");
    SetDirty(e);
    return Status::OK();
  }

  // Removes the value; the delete reaches RocksDB with the next write-back. No read.
  Status Erase(uint32_t key_group, std::string_view user) {
    SEGFLOW_RETURN_IF_ERROR(backend_->CheckKeyGroup(key_group));
    EncodeStateKey(key_group, user, &key_);
    Entry* e = FindEncoded();
    if (e == nullptr) {
      SEGFLOW_RETURN_IF_ERROR(MakeRoom());
      e = Insert(nullptr);
    } else {
      Touch(e);
    }
    e->value.reset();
    SetDirty(e);
    ++epoch_;
    return Status::OK();
  }

  Status Flush() override {
    if (hold_) return Status::FailedPrecondition("flush while an asynchronous snapshot holds the cache");
    ++epoch_;
    StateWriteBatch batch(backend_);
    size_t done = 0;
    // Written in chunks so a huge flush does not build one huge batch.
    while (done < dirty_.size()) {
      const size_t end = std::min(dirty_.size(), done + kFlushChunk);
      batch.Clear();
      for (size_t i = done; i < end; ++i) AddWriteBack(dirty_[i], &batch);
      SEGFLOW_RETURN_IF_ERROR(backend_->Write(&batch));
      write_backs_ += end - done;
      done = end;
    }
    for (Entry* e : dirty_) e->dirty = false;
    dirty_.clear();
    return Status::OK();
  }

  // See the contract above. The batch holds every dirty entry; FailedPrecondition if a
  // hold is already on.
  Status DrainForSnapshot(StateWriteBatch* batch) {
    if (hold_) return Status::FailedPrecondition("a snapshot already holds the cache");
    ++epoch_;  // states handed out for update must be looked up (and marked dirty) again
    for (Entry* e : dirty_) {
      AddWriteBack(e, batch);
      e->dirty = false;
    }
    write_backs_ += dirty_.size();
    dirty_.clear();
    hold_ = true;
    return Status::OK();
  }
  void EndSnapshotHold() { hold_ = false; }
  bool holding() const { return hold_; }

  // Every value in `key_groups` (∩ the backend's range), in key order. Flushes first.
  Status ForEach(KeyGroupRange key_groups, const Visitor& fn) {
    SEGFLOW_RETURN_IF_ERROR(Flush());
    return backend_->ForEach(state_, key_groups,
                             [&](uint32_t kg, std::string_view user, std::string_view bytes) {
                               std::unique_ptr<T> value;
                               SEGFLOW_RETURN_IF_ERROR(decode_(bytes, &value));
                               if (value == nullptr) return Status::Corruption("decode gave no value");
                               return fn(kg, user, *value);
                             });
  }

  size_t size() const { return map_.size(); }
  size_t capacity() const { return capacity_; }
  size_t dirty() const { return dirty_.size(); }
  uint64_t epoch() const { return epoch_; }
  KeyedValueCacheStats stats() const {
    return KeyedValueCacheStats{hits_, misses_, evictions_, write_backs_};
  }

 private:
  static constexpr size_t kFlushChunk = 4096;

  struct Entry {
    std::unique_ptr<T> value;  // nullptr: known absent (or erased, when dirty)
    bool dirty = false;
    size_t dirty_index = 0;
    Entry* prev = nullptr;  // LRU list, most recent first
    Entry* next = nullptr;
    const std::string* key = nullptr;  // the map's key; nodes never move
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  Status Lookup(uint32_t key_group, std::string_view user, Entry** out) {
    SEGFLOW_RETURN_IF_ERROR(backend_->CheckKeyGroup(key_group));
    EncodeStateKey(key_group, user, &key_);
    if (Entry* e = FindEncoded()) {
      ++hits_;
      Touch(e);
      *out = e;
      return Status::OK();
    }
    ++misses_;
    std::unique_ptr<T> value;
    Status s = backend_->GetRaw(state_, key_, &buf_);
    if (s.ok()) {
      SEGFLOW_RETURN_IF_ERROR(decode_(buf_, &value));
      if (value == nullptr) return Status::Corruption("decode gave no value");
    } else if (s.code() != Status::Code::kNotFound) {
      return s;
    }
    SEGFLOW_RETURN_IF_ERROR(MakeRoom());
    *out = Insert(std::move(value));
    return Status::OK();
  }

  Entry* Find(uint32_t key_group, std::string_view user) {
    EncodeStateKey(key_group, user, &key_);
    return FindEncoded();
  }
  Entry* FindEncoded() {
    auto it = map_.find(std::string_view(key_));
    return it == map_.end() ? nullptr : &it->second;
  }

  // Inserts key_ (not yet cached) at the front of the LRU list.
  Entry* Insert(std::unique_ptr<T> value) {
    auto [it, inserted] = map_.try_emplace(key_);
    Entry* e = &it->second;
    e->value = std::move(value);
    e->key = &it->first;
    LinkFront(e);
    return e;
  }

  // Evicts least recently used entries until one more fits.
  Status MakeRoom() {
    if (hold_ || map_.size() < capacity_) return Status::OK();
    const size_t n = std::max<size_t>(1, capacity_ / 16);
    StateWriteBatch batch(backend_);
    size_t writes = 0;
    Entry* victim = lru_.prev;
    for (size_t i = 0; i < n && victim != &lru_; ++i, victim = victim->prev) {
      if (victim->dirty) {
        AddWriteBack(victim, &batch);
        ++writes;
      }
    }
    ++epoch_;
    // Write before dropping anything: on failure nothing is lost.
    SEGFLOW_RETURN_IF_ERROR(backend_->Write(&batch));
    write_backs_ += writes;
    for (size_t i = 0; i < n && lru_.prev != &lru_; ++i) {
      Entry* e = lru_.prev;
      if (e->dirty) ClearDirty(e);
      Unlink(e);
      map_.erase(map_.find(std::string_view(*e->key)));
      ++evictions_;
    }
    return Status::OK();
  }

  void AddWriteBack(Entry* e, StateWriteBatch* batch) {
    if (e->value == nullptr) {
      batch->DeleteRaw(state_, *e->key);
      return;
    }
    buf_.clear();
    encode_(*e->value, &buf_);
    batch->PutRaw(state_, *e->key, buf_);
  }

  void SetDirty(Entry* e) {
    if (e->dirty) return;
    e->dirty = true;
    e->dirty_index = dirty_.size();
    dirty_.push_back(e);
  }
  void ClearDirty(Entry* e) {
    Entry* last = dirty_.back();
    dirty_[e->dirty_index] = last;
    last->dirty_index = e->dirty_index;
    dirty_.pop_back();
    e->dirty = false;
  }

  void Touch(Entry* e) {
    if (lru_.next == e) return;
    Unlink(e);
    LinkFront(e);
  }
  void Unlink(Entry* e) {
    e->prev->next = e->next;
    e->next->prev = e->prev;
  }
  void LinkFront(Entry* e) {
    e->prev = &lru_;
    e->next = lru_.next;
    lru_.next->prev = e;
    lru_.next = e;
  }

  KeyedStateBackend* backend_;
  StateId state_;
  Encode encode_;
  Decode decode_;
  size_t capacity_;
  std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> map_;
  Entry lru_;                  // sentinel of the LRU list
  std::vector<Entry*> dirty_;  // every dirty entry, each knowing its index
  std::string key_;            // scratch: encoded key of the current lookup
  std::string buf_;            // scratch: value bytes
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
  uint64_t epoch_ = 0;
  uint64_t write_backs_ = 0;
  bool hold_ = false;  // an asynchronous snapshot is writing a drained batch
};

}  // namespace segflow
