#include "operators/runtime/sink_erasure.h"

namespace segflow {

Status SinkErasures::Start(SinkAudience* audience, SinkCommitters* committers) {
  SEGFLOW_RETURN_IF_ERROR(watch_.Load());
  return EraseInStores(audience, committers);
}

Status SinkErasures::Poll(SinkAudience* audience, SinkCommitters* committers) {
  auto reloaded = watch_.Poll();
  if (!reloaded.ok()) return reloaded.status();
  if (*reloaded) return EraseInStores(audience, committers);
  return Status::OK();
}

Status SinkErasures::EraseInStores(SinkAudience* audience, SinkCommitters* committers) {
  for (const auto& [user, at] : watch_.erasures()) {
    auto done = erased_in_stores_.find(user);
    if (done != erased_in_stores_.end() && done->second >= at) continue;
    SEGFLOW_RETURN_IF_ERROR(audience->Erase(user, at));
    SEGFLOW_RETURN_IF_ERROR(committers->Erase(user, at));
    erased_in_stores_[user] = at;
  }
  return Status::OK();
}

}  // namespace segflow
