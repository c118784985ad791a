// UserStateStore: where a keyed evaluator keeps its users' SegmentProgram states.
// The in-memory map below is the first implementation; the runtime can put a RocksDB-
// backed cache behind the same interface (states serialized with SegmentProgram).
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
  // until Sync(); the caller may modify the state in place (a write-back cache must
  // treat every state it hands out as dirty until the next Sync).
  virtual Result<UserState*> Find(std::string_view user) = 0;
  // Adds the state of a user who has none; returns it with Find's validity.
  virtual Result<UserState*> Insert(std::string_view user, std::unique_ptr<UserState> state) = 0;
  // Makes every handed-out state durable (a cache writes them back and may evict them);
  // afterwards earlier pointers are invalid.
  virtual Status Sync() = 0;
  // Calls `fn` for every user with state, in no particular order; stops at its first error.
  virtual Status ForEach(const std::function<Status(const std::string&, UserState&)>& fn) = 0;
  virtual size_t size() const = 0;
};

class InMemoryUserStateStore : public UserStateStore {
 public:
  Result<UserState*> Find(std::string_view user) override;
  Result<UserState*> Insert(std::string_view user, std::unique_ptr<UserState> state) override;
  Status ForEach(const std::function<Status(const std::string&, UserState&)>& fn) override;
  Status Sync() override { return Status::OK(); }  // states live in memory; pointers stay valid
  size_t size() const override { return states_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<UserState>, Hash, std::equal_to<>> states_;
};

}  // namespace segflow
