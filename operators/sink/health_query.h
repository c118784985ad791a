// Segment health (issue 6 item 6, `segflow health`): what a job's outputs say about each
// segment, from its committed changelog, late topic and audience store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/sink/audience_store.h"

namespace segflow {

struct SegmentHealth {
  std::string segment;
  uint64_t population = 0;  // current members (the audience store)
  uint64_t entries = 0;     // entered records in the committed changelog
  uint64_t exits = 0;
  // Per event-time hour (hour start, epoch ms) over the window ending at the evaluated
  // time: entries and exits whose `at` falls in it. Hours without any are listed too.
  std::map<int64_t, std::pair<uint64_t, uint64_t>> hourly;
  // Change-to-audience latency: wall-clock time of the commit that made a change
  // visible in the audience store minus the change's event time (AudienceStore::Latency).
  // For a live feed whose event times are wall times this is event-to-membership
  // latency; for a replay of old events it is the replay's lag behind now.
  uint64_t latency_samples = 0;
  std::optional<int64_t> latency_p50_ms, latency_p90_ms, latency_p99_ms;  // bucket upper bounds
};

struct HealthReport {
  std::string job;
  std::optional<int64_t> evaluated_through;
  int hours = 24;
  std::vector<SegmentHealth> segments;
  uint64_t late = 0;  // records in the late topic
  std::map<int64_t, uint64_t> late_hourly;
  AudienceStore::ApplyStats store_stats;  // the own store's
  bool has_shared = false;
  AudienceStore::ApplyStats shared_stats;  // this job's writes to its shared store
};

// The job must have run (NotFound otherwise). `hours` (1..10000): the hourly window.
// `store`: the job's audience store when the caller holds it open (a running sink's
// handle, live_audience.h); null: opened read-only here.
Result<HealthReport> ComputeHealth(const JobSpec& job, int hours,
                                   const AudienceStore* store = nullptr);

// Upper bound (ms) of the histogram bucket holding quantile q (0 < q <= 1); nullopt if empty.
std::optional<int64_t> LatencyQuantile(const AudienceStore::LatencyHistogram& h, double q);

}  // namespace segflow
