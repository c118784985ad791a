#include "operators/segment/cached_user_state_store.h"

#include <utility>

#include "engine/common/key_group.h"
#include "engine/state/state_key.h"

namespace segflow {

Result<std::unique_ptr<CachedUserStateStore>> CachedUserStateStore::Open(
    std::shared_ptr<const SegmentProgram> program, KeyedStateBackend* backend,
    size_t cache_entries) {
  auto state = backend->RegisterState(kStateName);
  if (!state.ok()) return state.status();
  return std::unique_ptr<CachedUserStateStore>(
      new CachedUserStateStore(std::move(program), backend, *state, cache_entries));
}

CachedUserStateStore::CachedUserStateStore(std::shared_ptr<const SegmentProgram> program,
                                           KeyedStateBackend* backend, StateId state,
                                           size_t cache_entries)
    : program_(std::move(program)),
      backend_(backend),
      state_(state),
      cache_(
          backend, state,
          [p = program_.get()](const UserState& s, std::string* out) { p->Serialize(s, out); },
          [p = program_.get()](std::string_view bytes, std::unique_ptr<UserState>* out) {
            return p->Deserialize(bytes, out);
          },
          cache_entries) {}

uint32_t CachedUserStateStore::KeyGroupOf(std::string_view user) const {
  return KeyGroupFor(HashUser(user), backend_->max_parallelism());
}

Result<UserState*> CachedUserStateStore::Find(std::string_view user) {
  return cache_.GetForUpdate(KeyGroupOf(user), user);
}

Result<UserState*> CachedUserStateStore::Insert(std::string_view user,
                                                std::unique_ptr<UserState> state) {
  const uint32_t kg = KeyGroupOf(user);
  auto existing = cache_.Get(kg, user);
  if (!existing.ok()) return existing.status();
  if (*existing != nullptr) {
    return Status::FailedPrecondition("user \"" + std::string(user) + "\" already has state");
  }
  auto created = cache_.GetOrCreate(kg, user, [&] { return std::move(state); });
  if (created.ok()) ++inserted_;
  return created;
}

Result<UserState*> CachedUserStateStore::InsertNew(std::string_view user,
                                                   std::unique_ptr<UserState> state) {
  auto created = cache_.Create(KeyGroupOf(user), user, std::move(state));
  if (created.ok()) ++inserted_;
  return created;
}

Result<bool> CachedUserStateStore::Erase(std::string_view user) {
  const uint32_t kg = KeyGroupOf(user);
  if (!backend_->Owns(kg)) return false;
  auto existing = cache_.Get(kg, user);
  if (!existing.ok()) return existing.status();
  if (*existing == nullptr) return false;
  SEGFLOW_RETURN_IF_ERROR(cache_.Erase(kg, user));
  std::string key;
  EncodeStateKey(kg, user, &key);
  erased_keys_.push_back(std::move(key));
  return true;
}

Status CachedUserStateStore::ForEach(
    const std::function<Status(std::string_view, const UserState&)>& fn) {
  return cache_.ForEach(backend_->key_groups(),
                        [&](uint32_t, std::string_view user, const UserState& s) { return fn(user, s); });
}

}  // namespace segflow
