// The audience stores that sink tasks of this process hold open for writing, lent to
// readers in the same process (the worker's audience service). A segment list (GET
// /metrics, /v1/jobs/ID/segments) then reads the writer's own handle: opening the store
// read-only instead replays its write-ahead log, which in a run without checkpoints holds
// every change since the run began (what made a 1 Hz scrape cost a fifth of a replay).
// RocksDB allows reads concurrent with the writer's batches; a reader that wants one
// consistent view uses AudienceStore::Summarize (one snapshot).
#pragma once

#include <functional>
#include <string>

#include "operators/sink/audience_store.h"

namespace segflow {

// Lends `store` under `dir` for this object's lifetime; the destructor waits until no
// reader still uses it, so the store may be closed right after.
class LiveAudienceRegistration {
 public:
  LiveAudienceRegistration(const std::string& dir, const AudienceStore* store);
  ~LiveAudienceRegistration();
  LiveAudienceRegistration(const LiveAudienceRegistration&) = delete;
  LiveAudienceRegistration& operator=(const LiveAudienceRegistration&) = delete;

 private:
  std::string dir_;
  const AudienceStore* store_;
};

// Runs `fn` on the store a sink of this process writes at `dir` and returns true; false
// (without running it) when no sink here holds it.
bool WithLiveAudience(const std::string& dir, const std::function<void(const AudienceStore&)>& fn);

}  // namespace segflow
