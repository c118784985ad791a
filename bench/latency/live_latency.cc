// segflow_live_latency: end-to-end latency of a live job at a fixed input rate, with the
// probe of bench/latency/latency_probe.h against the job bench/latency/job.yaml (run
// separately, e.g. `segflow run ... --workers N`). `segflow bench --modes latency` does the
// same with the job and cluster started for you. Prints p50/p90/p99/max in ms.
//
// usage: segflow_live_latency LOG_DIR RATE SECONDS [PROBE_MS]
#include <cstdio>
#include <cstdlib>

#include "bench/latency/latency_probe.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s LOG_DIR RATE SECONDS [PROBE_MS]\n", argv[0]);
    return 2;
  }
  segflow::bench::ProbeOptions options;
  options.log_dir = argv[1];
  options.changelog_topic = "latency.memberships";
  options.rate = std::atof(argv[2]);
  options.seconds = std::atof(argv[3]);
  options.probe_ms = argc > 4 ? std::atoi(argv[4]) : 10;
  auto result = segflow::bench::RunProbe(options);
  if (!result.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], result.status().ToString().c_str());
    return 1;
  }
  std::printf("rate %.0f events/s for %.0f s, %llu probes, %llu seen, %llu never seen\n",
              result->actual_rate, result->seconds, static_cast<unsigned long long>(result->probes),
              static_cast<unsigned long long>(result->seen()),
              static_cast<unsigned long long>(result->unseen()));
  std::printf("latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", result->Percentile(0.50),
              result->Percentile(0.90), result->Percentile(0.99), result->Max());
  return result->seen() == 0 ? 1 : 0;
}
