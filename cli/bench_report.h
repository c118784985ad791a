// What `segflow bench` measured, and its three renderings: JSON (every figure), a
// Markdown report (one table per mode) and an SVG chart (one panel per mode that has a
// curve), the SVG written by hand. A mode that did not run is absent from all three.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace segflow::cli {

// Mode "scaling": bounded replays of one job over numbers of workers.
struct ScalingRun {
  int workers = 0;  // 0: in-process
  int run = 0;
  uint64_t records = 0, late = 0, entered = 0, exited = 0;
  double seconds = 0;       // the job's own replay time
  double wall_seconds = 0;  // cluster start, submit, replay, shutdown
  double events_per_second() const {
    return seconds > 0 ? static_cast<double>(records) / seconds : 0;
  }
};
struct ScalingResult {
  std::string job;
  std::vector<int> workers;  // in the order measured
  std::vector<ScalingRun> runs;
};

// One live run at a fixed rate (modes "latency" and "sustain", and the checkpoint and
// recovery runs' probes).
struct LatencyPoint {
  double target_rate = 0, actual_rate = 0, seconds = 0;
  uint64_t events = 0, probes = 0, seen = 0;
  // What the job's sources had read when it was canceled, after the drain (the drain's
  // ticks included, so >= events when the job kept up).
  uint64_t job_records_in = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

struct SustainStep {
  LatencyPoint point;
  bool sustained = false;
  std::string why_not;  // empty when sustained
};
struct SustainResult {
  double max_latency_ms = 0;
  std::vector<SustainStep> steps;  // in the order run
  // The highest sustained target rate; 0 when no step was sustained.
  double max_sustained_rate() const;
  // Whether some rate failed: else max_sustained_rate() is only a lower bound.
  bool limit_found() const;
};

struct CheckpointSample {
  uint64_t id = 0;
  int64_t duration_ms = 0;
  uint64_t bytes = 0;
};
struct CheckpointResult {
  int64_t interval_ms = 0;
  uint64_t background_users = 0;
  uint64_t completed = 0, abandoned = 0;  // as the coordinator counted them
  std::vector<CheckpointSample> samples;  // those seen completing (status sampled every 100 ms)
  LatencyPoint committed_latency;         // append -> committed record (waits for a checkpoint)
};

struct RecoveryResult {
  int64_t interval_ms = 0;
  double kill_after_seconds = 0;
  uint32_t killed_worker = 0;
  double restart_seconds = 0;    // SIGKILL -> the job running again (next attempt)
  double caught_up_seconds = 0;  // SIGKILL -> committed evaluated time past the kill instant
  uint32_t attempt = 0;          // the attempt running at the end
  std::string restored_from;     // the checkpoint the new attempt started from
  LatencyPoint latency;          // probes over the whole run, the outage included
};

struct BenchResults {
  std::string cluster;   // "embedded" or the coordinator's HOST:PORT
  int live_workers = 0;  // embedded cluster of the live modes (0 with --coordinator)
  int cpus = 0;
  std::string cpu_model;
  double live_seconds = 0;  // per live rate
  std::optional<ScalingResult> scaling;
  std::optional<std::vector<LatencyPoint>> latency;
  std::optional<SustainResult> sustain;
  std::optional<CheckpointResult> checkpoint;
  std::optional<RecoveryResult> recovery;
};

double Median(std::vector<double> v);

std::string BenchJson(const BenchResults& r);
std::string BenchMarkdown(const BenchResults& r);
// An SVG document; one panel per mode with a curve (scaling, latency, sustain,
// checkpoint), or a single note when there is none.
std::string BenchSvg(const BenchResults& r);

}  // namespace segflow::cli
