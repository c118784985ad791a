#!/usr/bin/env bash
# Runs the Google Benchmark micro-benchmarks (bench/micro/) with repetitions and prints
# the machine, then each benchmark's median (and mean / stddev / cv) over the repetitions.
#
# Usage: bench/micro_bench.sh [REPETITIONS] [FILTER]
#   REPETITIONS  runs of each benchmark (default 5); the median is the figure to report
#   FILTER       a --benchmark_filter regex (default: all)
# Environment: MICRO_BENCH (binary; default build/release/bench/segflow_micro_bench),
#   MIN_TIME (seconds per repetition, default 0.5), OUT (JSON results; default
#   /tmp/segflow-micro-bench.json).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
filter=${2:-.}
bin=${MICRO_BENCH:-build/release/bench/segflow_micro_bench}
out=${OUT:-/tmp/segflow-micro-bench.json}
if [[ ! -x "$bin" ]]; then
  echo "micro_bench.sh: $bin not found; build it with scripts/build.sh release" >&2
  exit 2
fi
if ! [[ "$reps" =~ ^[1-9][0-9]*$ ]]; then
  echo "micro_bench.sh: REPETITIONS must be a positive integer, got '$reps'" >&2
  exit 2
fi
echo "# $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $bin --benchmark_repetitions=$reps --benchmark_min_time=${MIN_TIME:-0.5} --benchmark_filter='$filter'"
"$bin" --benchmark_repetitions="$reps" --benchmark_min_time="${MIN_TIME:-0.5}" \
  --benchmark_filter="$filter" --benchmark_display_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json
echo "# every repetition: $out"
