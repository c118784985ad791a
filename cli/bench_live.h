// `segflow bench`'s live modes, each a live job (the probe job of
// bench/latency/job.yaml, plus a view count per background user so that every event
// updates keyed state) fed at a fixed rate by the latency probe
// (bench/latency/latency_probe.h) on a cluster: the embedded one or a running coordinator.
// Every run gets a job and a log of its own under the bench folder (removed after it),
// and is canceled when its measurement ends.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "cli/bench_progress.h"
#include "cli/bench_report.h"
#include "engine/common/status.h"

namespace segflow::cli {

struct LiveSettings {
  std::string coordinator;  // HOST:PORT of the cluster
  std::vector<pid_t>
      worker_pids;  // the embedded cluster's workers (recovery may SIGKILL one); empty otherwise
  std::string dir;  // the bench folder
  int parallelism = 2;
  uint32_t partitions = 4;
  uint64_t background_users = 100000;
  double seconds = 10;  // producing time per rate
  BenchProgress* progress = nullptr;
};

// Mode "latency": one run per rate; the percentiles of append -> committed record.
Result<std::vector<LatencyPoint>> MeasureLatency(const LiveSettings& s,
                                                 const std::vector<double>& rates);

// Mode "sustain": the largest rate whose run keeps p99 <= max_latency_ms with every probe
// seen, >= 95% of the rate achieved and every event read by the job. Doubles from `start` until a
// rate fails, then bisects between the best sustained and the lowest failed rate; at most `steps`
// runs, fewer once the two are within 10%.
Result<SustainResult> FindSustainableRate(const LiveSettings& s, double start, int steps,
                                          double max_latency_ms);

// Mode "checkpoint": a checkpointing job at `rate`; every checkpoint's duration and size
// as the coordinator reports them (status sampled every 100 ms).
Result<CheckpointResult> MeasureCheckpoints(const LiveSettings& s, double rate,
                                            int64_t interval_ms);

// Mode "recovery" (embedded cluster only): a checkpointing job at `rate`; after
// `kill_after` seconds and a completed checkpoint, SIGKILL of the worker of keyed task 1
// (or 0); how long until the job runs again and until the committed changelog's evaluated
// time is past the instant of the kill. Fails after `timeout` seconds without either.
Result<RecoveryResult> MeasureRecovery(const LiveSettings& s, double rate, int64_t interval_ms,
                                       double kill_after, double timeout);

}  // namespace segflow::cli
