#!/usr/bin/env bash
# HTTP API benchmark (issue 15):
#  1. user lookups (GET /v1/jobs/ID/users/USER) with `hey` while a live job reads events
#     appended at RATE events/s: latency p50/p99/p999 (from hey's per-request CSV) and
#     requests/s;
#  2. the cost of metrics collection on replay: `segflow run --bounded --workers 1 --http`
#     without a client, with a scraper reading /metrics SCRAPE_HZ times a second, and with
#     that scraper plus the dashboard's polling (jobs, the job, its segments every 2 s, its
#     health every 10 s), interleaved run by run; medians of RUNS runs each.
# Usage: [SCRAPE_HZ=1] [REPLAY_ONLY=1] bench/http_bench.sh [RATE] [SECONDS] [CONCURRENCY] [RUNS]
#        (defaults: 100000 15 8 3); BEFORE=OLD_SEGFLOW also runs an older binary's replays
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-100000}
SECS=${2:-15}
CONC=${3:-8}
RUNS=${4:-3}
SCRAPE_HZ=${SCRAPE_HZ:-1}
SEGFLOW=$PWD/build/release/cli/segflow
[ -x "$SEGFLOW" ] || scripts/build.sh release >/dev/null
command -v hey >/dev/null || { echo "needs hey (apt-get install hey)"; exit 1; }
WORK=${BENCH_DIR:-/tmp/segflow-http-bench}
rm -rf "$WORK" && mkdir -p "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 600); do if eval "$1"; then return 0; fi; sleep 0.1; done; echo "timed out: $1"; exit 1; }

cat > "$WORK/job.yaml" <<YAML
job: shop
log: log
source: {topics: [events], max_out_of_orderness: 5s, idle_timeout: 1h}
segments:
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 7d, at_least: 2}}
parallelism: 2
checkpoint: {interval: 10s}
YAML

# --- 1. user lookups under a live job (REPLAY_ONLY=1 skips it) ---------------------------
if [ -z "${REPLAY_ONLY:-}" ]; then
echo "history: 500000 cart events for 50000 users"
"$SEGFLOW" gen cart --users 50000 --events 500000 --seed 7 --log "$WORK/log" --topic events --partitions 2 2>/dev/null
HTTP=$(free_port)
"$SEGFLOW" coordinator --dir "$WORK/coordinator" --listen 127.0.0.1:0 --http "127.0.0.1:$HTTP" \
  --data-root "$WORK" > "$WORK/coordinator.out" 2> "$WORK/coordinator.err" &
pids+=($!)
wait_for "grep -q 'coordinator listening on' '$WORK/coordinator.out' 2>/dev/null"
COORD=$(sed -n 's/coordinator listening on //p' "$WORK/coordinator.out")
"$SEGFLOW" worker --coordinator "$COORD" --slots 8 --dir "$WORK/worker" --data-root "$WORK" \
  > "$WORK/worker.out" 2> "$WORK/worker.err" &
pids+=($!)
API="http://127.0.0.1:$HTTP"
wait_for "curl -sf $API/metrics | grep -q 'segflow_workers{state=\"alive\"} 1'"
ID=$(curl -sf -X POST --data-binary @"$WORK/job.yaml" "$API/v1/jobs?file=$WORK/job.yaml" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
records_in() { curl -sf "$API/v1/jobs/$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records_in"])'; }
wait_for "[ \"\$(records_in)\" -ge 500000 ] 2>/dev/null"
wait_for "curl -sf $API/v1/jobs/$ID/segments/repeat_buyer/members?limit=1 | grep -q '\"members\":\[\"'"
USER_ID=$(curl -sf "$API/v1/jobs/$ID/segments/repeat_buyer/members?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["members"][0])')
echo "job $ID caught up; looking up $USER_ID: $(curl -sf "$API/v1/jobs/$ID/users/$USER_ID")"

pct() {  # pct FILE P: the P-th percentile (nearest rank) of hey's CSV response times, in ms
  awk -F, 'NR>1 && $7==200 {print $1*1000}' "$1" | sort -g | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.999999); if(i<1)i=1; printf "%.2f", a[i]}'
}
lookup() {  # lookup NAME: one hey run of SECS seconds; prints its line
  local csv="$WORK/lookup-${1//[^a-zA-Z0-9]/_}.csv" n ok
  hey -z "${SECS}s" -c "$CONC" -o csv "$API/v1/jobs/$ID/users/$USER_ID" > "$csv"
  n=$(($(wc -l < "$csv") - 1))
  ok=$(awk -F, 'NR>1 && $7==200' "$csv" | wc -l)
  printf '%s: %d requests (%d answered 200) in %s s = %.0f req/s; p50 %s ms, p99 %s ms, p99.9 %s ms\n' \
    "$1" "$n" "$ok" "$SECS" "$(echo "$n / $SECS" | bc -l)" "$(pct "$csv" 50)" "$(pct "$csv" 99)" "$(pct "$csv" 99.9)"
}
lookup "idle job"
before=$(records_in)
"$SEGFLOW" gen cart --users 50000 --events $((RATE * (SECS + 10))) --seed 8 --start 2026-05-08T00:00:00Z \
  --rate "$RATE" --log "$WORK/log" --topic events --partitions 2 2>/dev/null &
gen=$!
pids+=($gen)
sleep 3
lookup "live job at $RATE events/s"
after=$(records_in)
wait "$gen" 2>/dev/null || true
echo "the job took in $((after - before)) records during the loaded run ($(echo "($after - $before) / ($SECS + 3)" | bc) records/s)"
cleanup
pids=()
fi

# --- 2. metrics cost on replay ---------------------------------------------------------
echo "replay: 2000000 cart events for 200000 users"
rm -rf "$WORK/log" "$WORK/state" "$WORK/audience" "$WORK/checkpoints"
sed -i '/^checkpoint:/d' "$WORK/job.yaml"
"$SEGFLOW" gen cart --users 200000 --events 2000000 --seed 9 --log "$WORK/log" --topic events --partitions 2 2>/dev/null
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wall-clock throughput on a shared 2-vCPU machine drifts with the other load far more than
# 2 %, so each run also reports the CPU seconds (user + system) of `segflow run` and its
# worker (reaped children count in its rusage): what the engine spent, whatever else runs.
replay() {  # replay MODE(0 none|1 metrics|2 metrics+dashboard) [BINARY]: "records/s cpu_s"
  local port clients=() bin=${2:-$SEGFLOW}
  port=$(free_port)
  /usr/bin/time -f "%U %S" -o "$WORK/time.out" \
    "$bin" run "$WORK/job.yaml" --bounded --workers 1 --http "127.0.0.1:$port" > "$WORK/run.out" 2> "$WORK/run.err" &
  local run=$!
  local api="http://127.0.0.1:$port"
  if [ "$1" -ge 1 ]; then
    (while kill -0 "$run" 2>/dev/null; do curl -sf "$api/metrics" > /dev/null || true; sleep "$(echo "1 / $SCRAPE_HZ" | bc -l)"; done) &
    clients+=($!)
  fi
  if [ "$1" -ge 2 ]; then
    (i=0; while kill -0 "$run" 2>/dev/null; do
       id=$(curl -sf "$api/v1/jobs" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
       if [ -n "$id" ]; then
         curl -sf "$api/v1/jobs/$id" > /dev/null || true
         curl -sf "$api/v1/jobs/$id/segments" > /dev/null || true
         [ $((i % 5)) = 0 ] && { curl -sf "$api/v1/jobs/$id/health?hours=24" > /dev/null || true; }
         i=$((i + 1))
       fi
       sleep 2
     done) &
    clients+=($!)
  fi
  wait "$run"
  for c in "${clients[@]}"; do wait "$c" 2>/dev/null || true; done
  echo "$(sed -n 's/.*records (\([0-9]*\) records\/s).*/\1/p' "$WORK/run.out") $(awk '{print $1 + $2}' "$WORK/time.out")"
}
# BEFORE=path/to/an/older/segflow: its runs without and with the scraper, interleaved too.
modes=(0 1 2)
[ -n "${BEFORE:-}" ] && modes+=(b0 b1)
declare -A rate cpu
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
  for m in "${modes[@]}"; do
    if [ "${m:0:1}" = b ]; then r=$(replay "${m:1}" "$BEFORE"); else r=$(replay "$m"); fi
    rate[$m]+="${r% *} "; cpu[$m]+="${r#* } "
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
name() { case $1 in 0) echo "no client";; 1) echo "/metrics at $SCRAPE_HZ Hz";; 2) echo "/metrics at $SCRAPE_HZ Hz + dashboard polling";;
  b0) echo "BEFORE: no client";; b1) echo "BEFORE: /metrics at $SCRAPE_HZ Hz";; esac; }
for m in "${modes[@]}"; do
  mr=$(printf '%s\n' ${rate[$m]} | median); mc=$(printf '%s\n' ${cpu[$m]} | median)
  echo "$(name "$m"): records/s ${rate[$m]}-> median $mr; CPU s ${cpu[$m]}-> median $mc"
  eval "mr_$m=$mr mc_$m=$mc"
done
cost() { printf '%s: throughput %.1f %%, CPU %+.1f %% (medians)\n' "$1" \
  "$(echo "($2 - $3) * 100 / $2" | bc -l)" "$(echo "($5 - $4) * 100 / $4" | bc -l)"; }
cost "metrics cost" "$mr_0" "$mr_1" "$mc_0" "$mc_1"
cost "metrics + dashboard cost" "$mr_0" "$mr_2" "$mc_0" "$mc_2"
[ -n "${BEFORE:-}" ] && cost "BEFORE: metrics cost" "$mr_b0" "$mr_b1" "$mc_b0" "$mc_b1"
true
