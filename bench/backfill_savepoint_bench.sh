#!/usr/bin/env bash
# Issue 17: what ending a backfill with a savepoint costs, at many users. On a cluster of a
# coordinator and 2 workers on this machine, over `gen media` events in the log (4
# partitions), a count-window job with a checkpoint block is submitted bounded:
#   plain        submit --bounded --wait                                   (batch)
#   savepoint    submit --bounded --end-with-savepoint --wait              (batch)
#   streaming    submit --bounded --end-with-savepoint --runtime-mode streaming --wait
# Per run: seconds from submission to done, the savepoint's size, and (from `status
# --json`) the savepoint's own duration. The savepoint's cost is savepoint - plain.
# Usage: bench/backfill_savepoint_bench.sh [EVENTS] [USERS] [RUNS]  (defaults 20000000 10000000 1)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-20000000}
USERS=${2:-10000000}
RUNS=${3:-1}
SEGFLOW=$(realpath "${SEGFLOW:-build/release/cli/segflow}")
[ -x "$SEGFLOW" ] || { echo "no binary at $SEGFLOW (scripts/build.sh release)" >&2; exit 2; }
WORK=${BENCH_DIR:-/tmp/segflow-savepoint-bench}
case "$WORK" in /|"") echo "refusing BENCH_DIR=$WORK" >&2; exit 2 ;; esac
rm -rf "$WORK" && mkdir -p "$WORK"
now() { date +%s.%N; }
echo "segflow: $SEGFLOW, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$SEGFLOW" gen media --users "$USERS" --events "$EVENTS" --seed 7 --log "$WORK/log" --topic events --partitions 4 2>&1 | tail -1
cat > "$WORK/job.yaml" <<YAML
job: backfill
log: log
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}
parallelism: 2
checkpoint: {interval: 10s, dir: checkpoints}
YAML
port=$((7700 + RANDOM % 200))
C=127.0.0.1:$port
"$SEGFLOW" coordinator --listen "$C" --dir "$WORK/coordinator" --data-root "$WORK" > "$WORK/coordinator.out" 2>&1 &
pids=($!)
sleep 0.5
for w in 1 2; do
  "$SEGFLOW" worker --coordinator "$C" --slots 2 --dir "$WORK/w$w" --data-root "$WORK" > "$WORK/w$w.out" 2>&1 &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
sleep 1
for i in $(seq "$RUNS"); do
  for mode in plain savepoint streaming; do
    args=(--bounded --wait)
    [ "$mode" != plain ] && args+=(--end-with-savepoint)
    [ "$mode" = streaming ] && args+=(--runtime-mode streaming)
    t0=$(now)
    "$SEGFLOW" submit "$WORK/job.yaml" --coordinator "$C" "${args[@]}" > "$WORK/$mode-$i.out" 2>&1 \
      || { echo "!! $mode failed:"; tail -5 "$WORK/$mode-$i.out"; exit 1; }
    secs=$(echo "$(now) - $t0" | bc)
    id=$(head -1 "$WORK/$mode-$i.out")
    sp=$(sed -n 's/^savepoint: //p' "$WORK/$mode-$i.out")
    size=$([ -n "$sp" ] && du -sm "$sp" | cut -f1 || echo 0)
    dur=$("$SEGFLOW" status "$id" --coordinator "$C" --json | grep -o '"duration_ms":[0-9]*' | tail -1 | cut -d: -f2 || true)
    echo "run $i $mode: ${secs} s, $(grep -m1 '^job backfill:' "$WORK/$mode-$i.out" | sed 's/^job backfill: //'); savepoint ${size} MiB, its checkpoint ${dur:-?} ms"
    [ -n "$sp" ] && rm -rf "$sp"
  done
done
