// SinkErasures: users erased by `segflow forget` (erasure_ledger.h) at the sink. Their
// changes up to the erasure are not written (ChangelogRelease asks Erased), and their rows
// are erased from the audience stores and the PostgreSQL table once per ledger record.
#pragma once

#include <cstdint>
#include <string>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/runtime/sink_audience.h"
#include "operators/runtime/sink_committers.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {

class SinkErasures {
 public:
  explicit SinkErasures(const JobSpec& job) : watch_(LedgerPath(job)) {}

  const ErasureWatch& watch() const { return watch_; }
  // Loads the ledger and erases every user in it from the stores.
  Status Start(SinkAudience* audience, SinkCommitters* committers);
  // A changed ledger's new users are erased from the stores.
  Status Poll(SinkAudience* audience, SinkCommitters* committers);

 private:
  // Erases, in every store, each ledger user not erased there yet.
  Status EraseInStores(SinkAudience* audience, SinkCommitters* committers);

  ErasureWatch watch_;
  Erasures erased_in_stores_;
};

}  // namespace segflow
