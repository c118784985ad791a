#!/usr/bin/env bash
# Version-upgrade benchmark (issue 6 item 2), on a 2-worker cluster on this machine, each
# figure the median of RUNS runs in this invocation (same data):
#  1. baseline: a bounded replay of the edited job file over the log (`run --bounded`);
#  2. an upgrade of a caught-up live job to the edited file (`submit --wait`): seconds from
#     resubmission to done; of which the handover (live job stopping -> the new live job's
#     first checkpoint has committed the switch), during which the audience is not updated;
#     and the ratio upgrade / baseline replay.
# Usage: bench/upgrade_bench.sh [EVENTS] [USERS] [RUNS]   (defaults: 2000000 200000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-2000000}
USERS=${2:-200000}
RUNS=${3:-3}
BUILD=${BUILD_DIR:-build/release}
SEGFLOW=$PWD/$BUILD/cli/segflow
[ -x "$SEGFLOW" ] || scripts/build.sh release >/dev/null
WORK=${BENCH_DIR:-/tmp/segflow-upgrade-bench}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

rm -rf "$WORK" && mkdir -p "$WORK"
echo "== generating $EVENTS cart events for $USERS users"
"$SEGFLOW" gen cart --users "$USERS" --events "$EVENTS" --seed 11 2>/dev/null |
  "$SEGFLOW" produce --log "$WORK/log" --topic events --partitions 4 >/dev/null 2>&1
sed -e 's#log: data/cart/log#log: log#' -e 's#^parallelism: 2#parallelism: 2\ncheckpoint: {interval: 2s}#' \
  jobs/cart.yaml > "$WORK/old.yaml"
sed -e 's/within: 30m/within: 45m/' "$WORK/old.yaml" > "$WORK/new.yaml"

replay=""; total=""; handover=""
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/audience" "$WORK/state" "$WORK/checkpoints" "$WORK/coordinator" "$WORK"/w? "$WORK/log/"*memberships* "$WORK/log/"*.late
  cp "$WORK/new.yaml" "$WORK/baseline.yaml"
  t0=$(now)
  "$SEGFLOW" run "$WORK/baseline.yaml" --bounded --workers 2 >/dev/null
  replay+="$(echo "$(now) - $t0" | bc) "

  port=$((7600 + i))
  "$SEGFLOW" coordinator --listen 127.0.0.1:$port --dir "$WORK/coordinator" --data-root "$WORK" >"$WORK/coordinator.out" 2>&1 &
  cpid=$!
  sleep 0.5
  "$SEGFLOW" worker --coordinator 127.0.0.1:$port --slots 2 --dir "$WORK/w1" --data-root "$WORK" >/dev/null 2>&1 &
  w1=$!
  "$SEGFLOW" worker --coordinator 127.0.0.1:$port --slots 2 --dir "$WORK/w2" --data-root "$WORK" >/dev/null 2>&1 &
  w2=$!
  sleep 1
  cp "$WORK/old.yaml" "$WORK/job.yaml"
  "$SEGFLOW" submit "$WORK/job.yaml" --coordinator 127.0.0.1:$port >/dev/null
  # Caught up: the committed evaluated time stops moving.
  last=""; for _ in $(seq 600); do
    cur=$(cat "$WORK/log/cart-abandonment.memberships/COMMITTED" 2>/dev/null | grep -o 'evaluated [0-9-]*' || true)
    [ -n "$cur" ] && [ "$cur" = "$last" ] && break
    last=$cur; sleep 2
  done
  cp "$WORK/new.yaml" "$WORK/job.yaml"
  t0=$(now)
  stop_at=""; done_at=""
  while IFS= read -r line; do
    case "$line" in
      *": stopping-live"*) stop_at=$(now) ;;
      *": done"*) done_at=$(now) ;;
    esac
  done < <("$SEGFLOW" submit "$WORK/job.yaml" --coordinator 127.0.0.1:$port --wait 2>&1 >/dev/null)
  [ -n "$done_at" ] || { echo "upgrade $i did not finish"; kill $cpid $w1 $w2; exit 1; }
  total+="$(echo "$done_at - $t0" | bc) "
  handover+="$(echo "$done_at - $stop_at" | bc) "
  kill $cpid $w1 $w2 2>/dev/null; wait $cpid $w1 $w2 2>/dev/null || true
  echo "run $i: replay $(echo "$replay" | awk '{print $NF}')s, upgrade $(echo "$total" | awk '{print $NF}')s, handover $(echo "$handover" | awk '{print $NF}')s"
done
r=$(echo $replay | tr ' ' '\n' | median)
t=$(echo $total | tr ' ' '\n' | median)
h=$(echo $handover | tr ' ' '\n' | median)
echo "== $EVENTS events, $USERS users, medians of $RUNS runs"
echo "bounded replay of the new file: ${r}s"
echo "upgrade (resubmission -> done): ${t}s = $(echo "scale=2; $t / $r" | bc) x the replay"
echo "handover (live job stopping -> switch committed): ${h}s"
