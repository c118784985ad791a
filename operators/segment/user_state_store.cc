#include "operators/segment/user_state_store.h"

#include <utility>


namespace segflow {

Result<UserState*> InMemoryUserStateStore::Find(std::string_view user) {
  auto it = states_.find(user);
  return it == states_.end() ? nullptr : it->second.get();
}

Result<UserState*> InMemoryUserStateStore::Insert(std::string_view user,
                                                  std::unique_ptr<UserState> state) {
  auto [it, inserted] = states_.try_emplace(std::string(user), std::move(state));
  if (!inserted) {
    return Status::FailedPrecondition("user \"" + std::string(user) + "\" already has state");
  }
  return it->second.get();
}

Result<bool> InMemoryUserStateStore::Erase(std::string_view user) {
  auto it = states_.find(user);
  if (it == states_.end()) return false;
  states_.erase(it);
  return true;
}

Status InMemoryUserStateStore::ForEach(
    const std::function<Status(std::string_view, const UserState&)>& fn) {
  for (auto& [user, state] : states_) SEGFLOW_RETURN_IF_ERROR(fn(user, *state));
  return Status::OK();
}

}  // namespace segflow
