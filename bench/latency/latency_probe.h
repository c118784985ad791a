// The live-latency probe: a paced producer and a changelog reader, measuring end to end
// from an event's append to its changelog record being visible to a read-committed
// consumer. Used by `segflow bench` (latency, sustainable-throughput, checkpoint and
// recovery modes) and by the standalone tool segflow_live_latency.
//
// The producer appends to `topic` at `rate` events/s (event time = wall clock), background
// `view` events of `background_users` users plus, every `probe_ms`, one `probe` event of a
// fresh user. The job must put a user in a segment at the instant of their probe event
// (bench/latency/job.yaml: `count: {event: probe, at_least: 1}` with
// max_out_of_orderness 0s), so every probe yields exactly one "entered" record. The reader
// tails every partition of `changelog_topic` up to its commit marker (everything, for a
// topic without one) and takes, per probe, the wall time from the probe's flush to its
// record being read. While the reader waits for the last probes, the producer appends one
// event per partition every 5 ms, so that watermarks (and evaluation) pass their instants.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace segflow::bench {

struct ProbeOptions {
  std::string log_dir;
  std::string topic = "events";
  std::string changelog_topic;  // e.g. "latency.memberships"
  double rate = 10000;          // events/s, > 0
  double seconds = 5;           // producing time, > 0
  int probe_ms = 10;            // one probe every this many ms, >= 1
  uint64_t background_users = 100000;
  std::string probe_prefix = "probe";  // probe users are PREFIX0, PREFIX1, ... (unique per run)
  double drain_seconds = 3;  // after producing, how long to wait for the last probes' records
  double changelog_wait_seconds = 30;  // for the changelog topic to exist
  // Set by another thread: the producer stops early (the drain still runs).
  const std::atomic<bool>* stop = nullptr;
  // Called from the producer about every 200 ms with the seconds produced so far.
  std::function<void(double elapsed)> on_tick;
};

struct ProbeResult {
  double target_rate = 0;
  double actual_rate = 0;  // events appended / producing time
  double seconds = 0;      // producing time
  uint64_t events = 0;     // appended, background and probes
  uint64_t probes = 0;
  std::vector<double> latencies_ms;  // of the probes seen, sorted ascending
  uint64_t seen() const { return latencies_ms.size(); }
  uint64_t unseen() const { return probes - seen(); }
  // The q-quantile (0..1) of the latencies, nearest rank; 0 with none.
  double Percentile(double q) const;
  double Max() const { return latencies_ms.empty() ? 0 : latencies_ms.back(); }
};

// Creates `topic` with `partitions` partitions if missing (events format), so that a job
// reading it can be submitted before anything is produced.
Status EnsureEventsTopic(const std::string& log_dir, const std::string& topic, uint32_t partitions);

// Runs the producer and the reader; an I/O error of either (or a changelog topic that does
// not appear in time) is the error.
Result<ProbeResult> RunProbe(const ProbeOptions& options);

}  // namespace segflow::bench
