// UserStateStore: where a keyed evaluator keeps its users' SegmentProgram states.
// InMemoryUserStateStore keeps them in a map (tests, tools); the runtime uses
// CachedUserStateStore (cached_user_state_store.h): a write-back cache over RocksDB.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/common/status.h"
#include "operators/segment/program.h"

namespace segflow {

class UserStateStore {
 public:
  virtual ~UserStateStore() = default;
  // The state of `user`, or nullptr when the user has none yet. The pointer stays valid
  // until the next call on the store; the caller may modify the state in place (a
  // write-back cache treats every state it hands out as modified).
  virtual Result<UserState*> Find(std::string_view user) = 0;
  // Adds the state of a user who has none; returns it with Find's validity.
  virtual Result<UserState*> Insert(std::string_view user, std::unique_ptr<UserState> state) = 0;
  // Insert for a user the caller knows has never had state in this store, nor has it
  // restored (a KeyedEvaluator's first event of a user): a store with a backing store may
  // skip reading it. The default is Insert.
  virtual Result<UserState*> InsertNew(std::string_view user, std::unique_ptr<UserState> state) {
    return Insert(user, std::move(state));
  }
  // Deletes the state of `user` (`segflow forget`); true if there was one. A write-back
  // store deletes it from its backing store too, by the next Sync at the latest, and never
  // hands the old state out again. Invalidates pointers from Find/Insert like any call.
  virtual Result<bool> Erase(std::string_view user) = 0;
  // Writes every modified state to the backing store, if there is one.
  virtual Status Sync() = 0;
  // Calls `fn` for every user with state, in no particular order; stops at its first error.
  virtual Status ForEach(
      const std::function<Status(std::string_view user, const UserState&)>& fn) = 0;
  virtual size_t size() const = 0;
  // Changes whenever states handed out earlier may have moved or been written back. While
  // it stays the same, a state returned by Find/Insert since it last changed may be used
  // (and modified) again without calling Find.
  virtual uint64_t epoch() const = 0;
};

class InMemoryUserStateStore : public UserStateStore {
 public:
  Result<UserState*> Find(std::string_view user) override;
  Result<UserState*> Insert(std::string_view user, std::unique_ptr<UserState> state) override;
  Result<bool> Erase(std::string_view user) override;
  Status ForEach(const std::function<Status(std::string_view, const UserState&)>& fn) override;
  Status Sync() override { return Status::OK(); }  // states live only in memory
  size_t size() const override { return states_.size(); }
  uint64_t epoch() const override { return 0; }  // states never move

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<UserState>, Hash, std::equal_to<>> states_;
};

}  // namespace segflow
