#!/usr/bin/env bash
# Distributed-runtime benchmark (issue #4), each figure the median of RUNS runs in this
# one invocation, the in-process run as the baseline on the same data:
#  1. bounded replay of the count-window job: `run --workers 2` (a local cluster: a
#     coordinator and 2 worker processes exchanging records over TCP) vs `--workers 0`;
#  2. live latency at a fixed input rate: from a probe event's append to its changelog
#     record being readable (bench/latency/live_latency.cc), 2 workers vs in-process.
# Usage: bench/cluster_bench.sh [EVENTS] [USERS] [RUNS] [RATE] [SECONDS]
#        (defaults: 10000000 1000000 3 100000 20)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-10000000}
USERS=${2:-1000000}
RUNS=${3:-3}
RATE=${4:-100000}
SECONDS_LIVE=${5:-20}
BUILD=${BUILD_DIR:-build/release}
SEGFLOW=$BUILD/cli/segflow
LATENCY=$BUILD/bench/segflow_live_latency
[ -x "$SEGFLOW" ] && [ -x "$LATENCY" ] || scripts/build.sh release >/dev/null
WORK=${BENCH_DIR:-/tmp/segflow-cluster-bench}
rm -rf "$WORK" && mkdir -p "$WORK"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cat > "$WORK/count.yaml" <<YAML
job: bench-count
log: log
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}
parallelism: 2
YAML
echo "generating $EVENTS media events for $USERS users"
"$SEGFLOW" gen media --users "$USERS" --events "$EVENTS" --seed 7 | \
  "$SEGFLOW" produce --log "$WORK/log" --topic events --partitions 4 2>/dev/null
declare -A rate rss members
for i in $(seq "$RUNS"); do
  for w in 0 2; do
    /usr/bin/time -f "%M" -o "$WORK/rss" "$SEGFLOW" run "$WORK/count.yaml" --bounded --workers "$w" > "$WORK/run.out"
    rate[$w]+="$(sed -n 's/.*records (\([0-9]*\) records\/s).*/\1/p' "$WORK/run.out") "
    rss[$w]+="$(( $(cat "$WORK/rss") / 1024 )) "
    members[$w]+="$(awk '/segment binge/ {print $3}' "$WORK/run.out") "
  done
done
m0=$(printf '%s\n' ${rate[0]} | median)
m2=$(printf '%s\n' ${rate[2]} | median)
echo "replay, in-process (--workers 0), events/s: ${rate[0]}-> median $m0 (client RSS MiB: ${rss[0]}; binge members: ${members[0]})"
echo "replay, 2 workers (--workers 2), events/s:  ${rate[2]}-> median $m2 (client RSS MiB: ${rss[2]}; binge members: ${members[2]})"
printf 'ratio 2 workers / in-process: %.2f (target >= 0.70)\n' "$(echo "$m2 / $m0" | bc -l)"

# Live latency.
mkdir -p "$WORK/live"
sed 's#^log: .*#log: log#' bench/latency/job.yaml > "$WORK/live/job.yaml"
declare -A p50 p99
for i in $(seq "$RUNS"); do
  for w in 0 2; do
    rm -rf "$WORK/live/log" "$WORK/live/state" "$WORK/live/audience"
    "$SEGFLOW" produce --log "$WORK/live/log" --topic events --partitions 4 < /dev/null 2>/dev/null
    "$SEGFLOW" run "$WORK/live/job.yaml" --workers "$w" > "$WORK/live/run.out" 2> "$WORK/live/run.err" &
    run_pid=$!
    sleep 1
    "$LATENCY" "$WORK/live/log" "$RATE" "$SECONDS_LIVE" > "$WORK/live/lat.out"
    kill -INT "$run_pid"; wait "$run_pid" || true
    cat "$WORK/live/lat.out" | sed "s/^/  [workers $w, run $i] /"
    p50[$w]+="$(sed -n 's/.*p50 \([0-9.]*\).*/\1/p' "$WORK/live/lat.out") "
    p99[$w]+="$(sed -n 's/.*p99 \([0-9.]*\).*/\1/p' "$WORK/live/lat.out") "
  done
done
for w in 0 2; do
  echo "live latency at $RATE events/s, --workers $w: p50 ${p50[$w]}-> median $(printf '%s\n' ${p50[$w]} | median) ms; p99 ${p99[$w]}-> median $(printf '%s\n' ${p99[$w]} | median) ms (target p99 < 100 ms + max_out_of_orderness 0 s)"
done
