#!/usr/bin/env bash
# Foundation benchmark: `produce` JSON lines/s, and bounded replay of a count-window job
# (events/s, peak RSS), each the median of RUNS runs. Usage:
#   bench/replay_bench.sh [EVENTS] [USERS] [RUNS]      (defaults: 10000000 1000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-10000000}
USERS=${2:-1000000}
RUNS=${3:-3}
SEGFLOW=build/release/cli/segflow
[ -x "$SEGFLOW" ] || scripts/build.sh release >/dev/null
WORK=${BENCH_DIR:-/tmp/segflow-bench}
rm -rf "$WORK" && mkdir -p "$WORK"
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
"$SEGFLOW" gen media --users "$USERS" --events "$EVENTS" --seed 7 --out "$WORK/events.jsonl"
bytes=$(stat -c %s "$WORK/events.jsonl")
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
prod=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/log"
  s=$(date +%s.%N)
  "$SEGFLOW" produce --log "$WORK/log" --topic events --partitions 4 < "$WORK/events.jsonl" 2>/dev/null
  e=$(date +%s.%N)
  prod+=("$(echo "$EVENTS / ($e - $s)" | bc -l)")
done
replay=(); rss=()
for i in $(seq "$RUNS"); do
  /usr/bin/time -f "%M" -o "$WORK/rss" "$SEGFLOW" run "$WORK/count.yaml" --bounded --workers 0 > "$WORK/run.out"
  replay+=("$(sed -n 's/.*records (\([0-9]*\) records\/s).*/\1/p' "$WORK/run.out")")
  rss+=("$(cat "$WORK/rss")")
done
echo "input: $EVENTS events, $USERS users, $((bytes / 1024 / 1024)) MiB of JSON lines"
printf 'produce (JSON lines/s), runs: %s -> median %.0f\n' "${prod[*]}" "$(printf '%s\n' "${prod[@]}" | median)"
printf 'bounded replay (events/s), runs: %s -> median %.0f\n' "${replay[*]}" "$(printf '%s\n' "${replay[@]}" | median)"
printf 'replay peak RSS (MiB), runs: %s -> median %.0f\n' "${rss[*]}" "$(printf '%s\n' "${rss[@]}" | median | awk '{print $1/1024}')"
grep -E 'segment|evaluated' "$WORK/run.out"
