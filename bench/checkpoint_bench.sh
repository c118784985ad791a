#!/usr/bin/env bash
# Checkpoint benchmark (issue #5), on the embedded 2-worker cluster, each figure the
# median of RUNS runs in this invocation (same data, interleaved runs):
#  1. bounded replay events/s without checkpoints, with `checkpoint: {interval: 10s}`
#     and with `interval: 2s` (a 10 M-event replay lasts about as long as one 10 s
#     interval, so 2 s shows the cost of several checkpoints);
#  2. the duration (trigger -> completed) and size of the checkpoints taken, read from
#     their _metadata, for USERS_A and USERS_B users of state;
#  3. recovery: a live checkpointing job caught up with the log, a worker SIGKILLed,
#     seconds until the committed changelog has caught up again.
# Usage: bench/checkpoint_bench.sh [EVENTS] [USERS_A] [USERS_B] [RUNS]
#        (defaults: 10000000 1000000 5000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-10000000}
USERS_A=${2:-1000000}
USERS_B=${3:-5000000}
RUNS=${4:-3}
BUILD=${BUILD_DIR:-build/release}
SEGFLOW=$BUILD/cli/segflow
[ -x "$SEGFLOW" ] || scripts/build.sh release >/dev/null
WORK=${BENCH_DIR:-/tmp/segflow-checkpoint-bench}
SCHEMA=$PWD/engine/schema/checkpoint.capnp
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
job() {  # NAME EXTRA_LINE
  cat <<YAML
job: $1
log: log
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}
parallelism: 2
$2
YAML
}
# Duration (ms) and bytes of every retained checkpoint under $1.
checkpoint_stats() {
  for m in $(find "$1" -name _metadata -path '*chk-*' 2>/dev/null); do
    tail -c +9 "$m" | capnp decode -I/usr/include "$SCHEMA" CheckpointMetadata 2>/dev/null | tr -d '\n' | \
      sed -n 's/.*triggeredAtMs = \([0-9]*\).*completedAtMs = \([0-9]*\).*bytes = \([0-9]*\).*/\1 \2 \3/p' | \
      awk '{print $2 - $1, $3}'
  done
}

for USERS in "$USERS_A" "$USERS_B"; do
  rm -rf "$WORK" && mkdir -p "$WORK"
  echo "== $USERS users: generating $EVENTS media events"
  "$SEGFLOW" gen media --users "$USERS" --events "$EVENTS" --seed 7 2>/dev/null | \
    "$SEGFLOW" produce --log "$WORK/log" --topic events --partitions 4 2>/dev/null
  job none "" > "$WORK/none.yaml"
  job ten "checkpoint: {interval: 10s}" > "$WORK/ten.yaml"
  job two "checkpoint: {interval: 2s}" > "$WORK/two.yaml"
  declare -A rate=()
  durations=""; sizes=""
  for i in $(seq "$RUNS"); do
    for j in none ten two; do
      rm -rf "$WORK/checkpoints"
      "$SEGFLOW" run "$WORK/$j.yaml" --bounded --workers 2 > "$WORK/run.out"
      rate[$j]+="$(sed -n 's/.*records (\([0-9]*\) records\/s).*/\1/p' "$WORK/run.out") "
      if [ "$j" = two ]; then
        while read -r d b; do durations+="$d "; sizes+="$b "; done < <(checkpoint_stats "$WORK/checkpoints")
      fi
    done
  done
  for j in none ten two; do
    echo "replay events/s, checkpoints $j: ${rate[$j]}-> median $(printf '%s\n' ${rate[$j]} | median)"
  done
  printf 'throughput ratio, 10 s interval / none: %.3f; 2 s interval / none: %.3f (target loss <= 10%%)\n' \
    "$(echo "$(printf '%s\n' ${rate[ten]} | median) / $(printf '%s\n' ${rate[none]} | median)" | bc -l)" \
    "$(echo "$(printf '%s\n' ${rate[two]} | median) / $(printf '%s\n' ${rate[none]} | median)" | bc -l)"
  echo "checkpoint duration ms (retained, 2 s interval runs): ${durations:-none} -> median $(printf '%s\n' ${durations:-0} | median)"
  echo "checkpoint size bytes (RocksDB snapshots, hard-linked SSTs counted in full): ${sizes:-none} -> median $(printf '%s\n' ${sizes:-0} | median)"

  # Recovery after SIGKILL, live, on a standalone cluster.
  if [ "$USERS" = "$USERS_A" ]; then
    CL=$WORK/cluster; mkdir -p "$CL"
    "$SEGFLOW" coordinator --listen 127.0.0.1:0 --dir "$CL/c" --data-root "$WORK" --heartbeat-timeout 5000 > "$CL/c.out" 2>&1 &
    cpid=$!
    sleep 0.5
    ADDR=$(sed -n 's/coordinator listening on //p' "$CL/c.out")
    wpids=()
    for w in 1 2 3; do
      "$SEGFLOW" worker --coordinator "$ADDR" --slots 2 --dir "$CL/w$w" --data-root "$WORK" > "$CL/w$w.out" 2>&1 &
      wpids+=($!)
    done
    sleep 1
    job live "checkpoint: {interval: 2s}" | sed 's/^job: live/job: recover/' > "$WORK/recover.yaml"
    ID=$("$SEGFLOW" submit "$WORK/recover.yaml" --coordinator "$ADDR")
    marker="$WORK/log/recover.memberships/COMMITTED"
    # Caught up: every record read and the committed evaluated time unchanged across 3
    # checkpoint intervals (the commit marker moves only when a checkpoint completes).
    wait_caught_up() {
      local last="" now same=0
      for _ in $(seq 1200); do
        now=$(sed -n 's/^evaluated //p' "$marker" 2>/dev/null || true)
        if [ -n "$now" ] && [ "$now" != none ] && [ "$now" = "$last" ]; then
          same=$((same + 1))
          if [ "$same" -ge 12 ]; then echo "$now"; return 0; fi
        else
          same=0
        fi
        last=$now; sleep 0.5
      done
      return 1
    }
    before=$(wait_caught_up)
    keyed1=$("$SEGFLOW" status "$ID" --coordinator "$ADDR" | sed -n 's/.*keyed 1 *worker \([0-9]*\).*/\1/p')
    victim=$("$SEGFLOW" jobs --coordinator "$ADDR" | awk -v w="$keyed1" '$1=="worker" && $2==w {print $5}')
    chk_before=$(sed -n 's/^checkpoint //p' "$marker")
    start=$(date +%s.%N)
    kill -9 "$victim"
    until "$SEGFLOW" status "$ID" --coordinator "$ADDR" | grep -q "running, attempt 2"; do sleep 0.05; done
    detected=$(date +%s.%N)
    # Caught up again: a checkpoint of the new attempt (id past the last one before the
    # kill) has committed everything that was committed before it.
    for _ in $(seq 6000); do
      now=$(sed -n 's/^evaluated //p' "$marker")
      chk=$(sed -n 's/^checkpoint //p' "$marker")
      [ "$now" != none ] && [ "$now" -ge "$before" ] && [ "$chk" -gt "$chk_before" ] && break
      sleep 0.05
    done
    done_at=$(date +%s.%N)
    printf 'recovery after SIGKILL (%s users of state): restarted after %.2f s, committed output caught up after %.2f s (target < 10 s)\n' \
      "$USERS" "$(echo "$detected - $start" | bc -l)" "$(echo "$done_at - $start" | bc -l)"
    "$SEGFLOW" status "$ID" --coordinator "$ADDR" | sed -n '1,6p'
    kill "$cpid" "${wpids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
done
