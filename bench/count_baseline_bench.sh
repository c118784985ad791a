#!/usr/bin/env bash
# Issue 17: a bounded replay of a count-window job against DuckDB computing the same whole
# membership history (every entry and exit the changelog holds) from the same JSON lines.
#   segment: count play where genre = documentary in 30d >= 5   (bench/replay_bench.sh's)
#   Segflow: `segflow run --bounded` over the events produced into the log (4 partitions):
#            batch (the default), --runtime-mode streaming, and the 2-worker cluster;
#   DuckDB:  bench/baseline/count.sql via bench/baseline/duckdb_query.mjs (the query, with
#            read_json, timed; not node's or DuckDB's start).
# Every run's changelog must equal DuckDB's rows, or the script fails. Usage:
#   bench/count_baseline_bench.sh [EVENTS] [USERS] [RUNS]    (defaults: 3000000 300000 3)
# Environment: BUILD=DIR (default build/release), BENCH_DIR=DIR (default
# /tmp/segflow-count-bench; wiped first), SEED=S (default 7), DUCKDB_THREADS=N.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-3000000}
USERS=${2:-300000}
RUNS=${3:-3}
BUILD=${BUILD:-build/release}
SEGFLOW=$(realpath "${SEGFLOW:-$BUILD/cli/segflow}")
SEED=${SEED:-7}
[ -x "$SEGFLOW" ] || { echo "no binary at $SEGFLOW (scripts/build.sh release)" >&2; exit 2; }
WORK=${BENCH_DIR:-/tmp/segflow-count-bench}
case "$WORK" in /|"") echo "refusing BENCH_DIR=$WORK" >&2; exit 2 ;; esac
rm -rf "$WORK" && mkdir -p "$WORK/runs"
bench/baseline/setup.sh
cat > "$WORK/count.yaml" <<YAML
job: bench-count
log: log
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}
parallelism: 2
YAML
echo "segflow: $SEGFLOW, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$SEGFLOW" gen media --users "$USERS" --events "$EVENTS" --seed "$SEED" --out "$WORK/events.jsonl" 2>&1
"$SEGFLOW" produce --log "$WORK/log" --topic events --partitions 4 < "$WORK/events.jsonl" > /dev/null

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
med() { printf '%s\n' $1 | median; }
history() {  # the job's changelog as "user at change" lines, sorted as DuckDB's rows
  "$SEGFLOW" consume --log "$WORK/log" --topic bench-count.memberships |
    sed -n 's/.*"user_id":"\([^"]*\)","change":"\([a-z]*\)","at":\([0-9]*\).*/\1 \3 \2/p' | LC_ALL=C sort
}
declare -A T
MODES=("batch:--workers 0" "streaming:--workers 0 --runtime-mode streaming" "cluster:--workers 2")
for i in $(seq "$RUNS"); do
  echo "== run $i (load $(cut -d' ' -f1 /proc/loadavg))"
  for m in "${MODES[@]}"; do
    name=${m%%:*}
    # shellcheck disable=SC2086
    /usr/bin/time -f "%M" -o "$WORK/runs/$name-$i.rss" \
      "$SEGFLOW" run "$WORK/count.yaml" --bounded ${m#*:} > "$WORK/runs/$name-$i.out" 2> "$WORK/runs/$name-$i.err" \
      || { echo "!! segflow run ($name) failed:" >&2; tail -5 "$WORK/runs/$name-$i.err" >&2; exit 1; }
    grep -q ', 0 late' "$WORK/runs/$name-$i.out" || { echo "!! late records: the SQL assumes none" >&2; exit 1; }
    T[$name]+="$(sed -n 's/.*finished in \([0-9.]*\) s.*/\1/p' "$WORK/runs/$name-$i.out") "
    history > "$WORK/runs/$name-$i.history"
    echo "   $name: $(head -1 "$WORK/runs/$name-$i.out"); $(wc -l < "$WORK/runs/$name-$i.history") changes; peak RSS $(( $(cat "$WORK/runs/$name-$i.rss") / 1024 )) MiB"
  done
  node bench/baseline/duckdb_query.mjs bench/baseline/count.sql "$WORK/events.jsonl" "$WORK/runs/duckdb-$i.raw" \
    ${DUCKDB_THREADS:-} 2> "$WORK/runs/duckdb-$i.err" || { cat "$WORK/runs/duckdb-$i.err" >&2; exit 1; }
  T[duckdb]+="$(sed -n 's/.*; \([0-9.]*\) s .*/\1/p' "$WORK/runs/duckdb-$i.err") "
  LC_ALL=C sort "$WORK/runs/duckdb-$i.raw" > "$WORK/runs/duckdb-$i.history"
  echo "   $(cat "$WORK/runs/duckdb-$i.err")"
  for m in "${MODES[@]}"; do
    name=${m%%:*}
    cmp -s "$WORK/runs/duckdb-$i.history" "$WORK/runs/$name-$i.history" || {
      echo "!! HISTORIES DIFFER: $name vs DuckDB, run $i" >&2
      diff "$WORK/runs/duckdb-$i.history" "$WORK/runs/$name-$i.history" | head -10 >&2
      exit 1
    }
  done
done
echo
echo "== summary: $EVENTS media events, $USERS users, $RUNS runs; $(wc -l < "$WORK/runs/duckdb-1.history") membership changes, equal in every run"
printf '  %-34s %-28s %9s %12s %14s\n' what "seconds per run (own timer)" median "events/s" "vs DuckDB"
duck=$(med "${T[duckdb]}")
for k in batch streaming cluster duckdb; do
  m=$(med "${T[$k]}")
  printf '  %-34s %-28s %9.3f %12.0f %14.2f\n' "$k" "${T[$k]}" "$m" "$(echo "$EVENTS / $m" | bc -l)" "$(echo "$duck / $m" | bc -l)"
done
echo "  (vs DuckDB: DuckDB's median time / this one's; targets: >= 1, and >= 3 M events/s)"
