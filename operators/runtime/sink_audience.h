// SinkAudience: the audience stores the sink commits to — the job's own store (with the
// job's segment versions, old versions frozen when replaced) and the shared, reconciled
// store of `output.shared_audience`, which gets exactly what the own store gets, under the
// job's name, at most once a second unless asked now.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/live_audience.h"

namespace segflow {

class SinkAudience {
 public:
  // `fresh`: a fresh attempt (no restore), whose own store held nothing of the job before.
  static Result<std::unique_ptr<SinkAudience>> Open(const JobSpec& job, bool fresh);

  AudienceStore& store() { return *store_; }
  // Applies to the own store, with the job's versions (and retiring what it dropped).
  Status ApplyOwn(const std::vector<AudienceStore::Change>& changes, std::optional<int64_t> through,
                  bool sync);
  // Queues for the shared store (if any); applies what is queued if `now` or a second passed.
  Status ApplyShared(const std::vector<AudienceStore::Change>& changes,
                     std::optional<int64_t> through, bool sync, bool now);
  // Versions (issue 6 item 2): each segment whose serving version in the own store is not
  // this job's stops serving with the first Apply; before anything is applied, its members
  // as the store holds them (the old job's audience at the restored checkpoint) are frozen
  // under the old version. A restarted attempt freezes again: a no-op. Shared stores are
  // not versioned (several jobs feed them).
  Status FreezeReplacedVersions();
  // Erases `user` (erased at `at`) from the own and the shared store, where not yet.
  Status Erase(const std::string& user, int64_t at);

 private:
  SinkAudience(const JobSpec& job, bool fresh) : job_(job), fresh_(fresh) {}

  const JobSpec& job_;
  const bool fresh_;
  std::unique_ptr<AudienceStore> store_;
  // Segment lists and metrics of this worker read this handle while the run writes.
  std::unique_ptr<LiveAudienceRegistration> lent_;
  // Segments that stop serving in the own store with its next Apply (removed from the job).
  std::vector<std::string> retiring_;
  std::vector<AudienceStore::Change> shared_pending_;
  std::optional<int64_t> shared_through_;
  std::chrono::steady_clock::time_point last_shared_ = std::chrono::steady_clock::now();
};

}  // namespace segflow
