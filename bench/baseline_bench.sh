#!/usr/bin/env bash
# Capacity baselines (issue #7): the cart scenario's `cart_abandoned` audience computed by
# Segflow, by a hand-written single-threaded C++ loop (bench/baseline/cart_loop.cc) and by
# DuckDB (bench/baseline/cart.sql via @duckdb/node-api), on the same generated events.
# The three member sets must be equal, or the script fails. Usage:
#   bench/baseline_bench.sh [EVENTS] [USERS] [RUNS]    (defaults: 2000000 200000 3)
# Environment:
#   BUILD=DIR         build folder with cli/segflow and bench/segflow_cart_loop (default build/release)
#   SEGFLOW=PATH      the binary (default $BUILD/cli/segflow); CART_LOOP=PATH likewise
#   BENCH_DIR=DIR     working data (default /tmp/segflow-baseline-bench; wiped first)
#   SEED=S            generator seed (default 7)
#   DUCKDB_THREADS=N  DuckDB's threads (default: all CPUs)
# Timed, per run (runs interleaved: segflow 0 workers, 2 workers, loop, DuckDB, ...):
#   segflow run: `segflow run JOB --bounded --workers 0|2`, wall clock of the process, over
#     the events already produced into the log (4 partitions);
#   produce: `segflow produce` of the JSON lines (once per run), so that "produce + run"
#     starts from the same JSON lines as the baselines;
#   cart_loop: the whole process (read, parse, evaluate, sort, write);
#   DuckDB: the query (read_json included), not node's or DuckDB's start.
# Printed: medians, and Segflow's time as a ratio to each baseline (baseline time /
# Segflow time: 1 = as fast, 0.25 = four times slower).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-2000000}
USERS=${2:-200000}
RUNS=${3:-3}
BUILD=${BUILD:-build/release}
SEGFLOW=$(realpath "${SEGFLOW:-$BUILD/cli/segflow}")
CART_LOOP=$(realpath "${CART_LOOP:-$BUILD/bench/segflow_cart_loop}")
SEED=${SEED:-7}
for b in "$SEGFLOW" "$CART_LOOP"; do
  [ -x "$b" ] || { echo "no binary at $b (scripts/build.sh release, or set SEGFLOW / CART_LOOP)" >&2; exit 2; }
done
WORK=${BENCH_DIR:-/tmp/segflow-baseline-bench}
case "$WORK" in /|"") echo "refusing BENCH_DIR=$WORK" >&2; exit 2 ;; esac
rm -rf "$WORK" && mkdir -p "$WORK/runs"
bench/baseline/setup.sh

# The job: jobs/cart.yaml's cart_abandoned segment and consent block, alone (the baselines
# compute only this segment), with the log in this bench's folder.
cat > "$WORK/job.yaml" <<'YAML'
job: bench-cart-abandoned
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
consent:
  event: consent
  field: granted
  default: granted
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
parallelism: 2
YAML
# Every line of the consent block and the segment must still be in jobs/cart.yaml.
while IFS= read -r line; do
  grep -qxF -- "$line" jobs/cart.yaml || { echo "WARNING: jobs/cart.yaml no longer has: $line" >&2; }
done < <(sed -n '/^consent:/,/membership:/p' "$WORK/job.yaml")

echo "segflow: $SEGFLOW (sha256 $(sha256sum "$SEGFLOW" | cut -c1-12)), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== generating $EVENTS cart events for $USERS users (seed $SEED)"
"$SEGFLOW" gen cart --users "$USERS" --events "$EVENTS" --seed "$SEED" --out "$WORK/events.jsonl" 2>&1
echo "   $(( $(stat -c %s "$WORK/events.jsonl") / 1024 / 1024 )) MiB of JSON lines"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
med() { printf '%s\n' $1 | median; }
declare -A T
check_same() {  # check_same NAME FILE: FILE must hold the reference member set
  if ! cmp -s "$WORK/members.ref" "$2"; then
    echo "!! MEMBERS DIFFER: $1 ($2) vs the first run's ($(cat "$WORK/members.ref.from")):" >&2
    diff "$WORK/members.ref" "$2" | head -20 >&2
    exit 1
  fi
}
reference() {  # the first member set is the reference of all the others
  if [ ! -e "$WORK/members.ref" ]; then cp "$1" "$WORK/members.ref"; echo "$2" > "$WORK/members.ref.from"; fi
}

for i in $(seq "$RUNS"); do
  echo "== run $i (load $(cut -d' ' -f1 /proc/loadavg))"
  rm -rf "$WORK/log"
  t0=$(now)
  "$SEGFLOW" produce --log "$WORK/log" --topic events --partitions 4 < "$WORK/events.jsonl" \
    > "$WORK/runs/produce-$i.out" 2>&1
  T[produce]+="$(since "$t0") "
  for w in 0 2; do
    t0=$(now)
    "$SEGFLOW" run "$WORK/job.yaml" --bounded --workers "$w" > "$WORK/runs/segflow$w-$i.out" 2> "$WORK/runs/segflow$w-$i.err" \
      || { echo "!! segflow run --workers $w failed:" >&2; tail -5 "$WORK/runs/segflow$w-$i.err" >&2; exit 1; }
    T[segflow$w]+="$(since "$t0") "
    T[timer$w]+="$(sed -n 's/.*finished in \([0-9.]*\) s.*/\1/p' "$WORK/runs/segflow$w-$i.out") "
    "$SEGFLOW" audience "$WORK/job.yaml" --segment cart_abandoned | LC_ALL=C sort > "$WORK/runs/segflow$w-$i.members"
    echo "   segflow --workers $w: $(head -1 "$WORK/runs/segflow$w-$i.out"); $(wc -l < "$WORK/runs/segflow$w-$i.members") members"
    reference "$WORK/runs/segflow$w-$i.members" "segflow --workers $w"
    check_same "segflow --workers $w, run $i" "$WORK/runs/segflow$w-$i.members"
  done
  t0=$(now)
  "$CART_LOOP" "$WORK/events.jsonl" --out "$WORK/runs/loop-$i.raw" 2> "$WORK/runs/loop-$i.err" \
    || { cat "$WORK/runs/loop-$i.err" >&2; exit 1; }
  T[loop]+="$(since "$t0") "
  LC_ALL=C sort "$WORK/runs/loop-$i.raw" > "$WORK/runs/loop-$i.members"
  echo "   $(cat "$WORK/runs/loop-$i.err")"
  check_same "cart_loop, run $i" "$WORK/runs/loop-$i.members"
  node bench/baseline/duckdb_query.mjs bench/baseline/cart.sql "$WORK/events.jsonl" "$WORK/runs/duckdb-$i.raw" ${DUCKDB_THREADS:-} \
    2> "$WORK/runs/duckdb-$i.err" || { cat "$WORK/runs/duckdb-$i.err" >&2; exit 1; }
  T[duckdb]+="$(sed -n 's/.*; \([0-9.]*\) s .*/\1/p' "$WORK/runs/duckdb-$i.err") "
  LC_ALL=C sort "$WORK/runs/duckdb-$i.raw" > "$WORK/runs/duckdb-$i.members"
  echo "   $(cat "$WORK/runs/duckdb-$i.err")"
  check_same "DuckDB, run $i" "$WORK/runs/duckdb-$i.members"
done

echo
echo "== summary: $EVENTS cart events, $USERS users, $RUNS runs; cart_abandoned: $(wc -l < "$WORK/members.ref") members, the same in every run of Segflow (0 and 2 workers), cart_loop and DuckDB"
printf '  %-28s %-36s %9s %12s\n' what "seconds per run" median "events/s"
declare -A LABEL=([produce]="segflow produce" [segflow0]="segflow run --workers 0" [segflow2]="segflow run --workers 2"
  [timer0]="  (the run's own timer)" [timer2]="  (the run's own timer)" [loop]="cart_loop" [duckdb]="DuckDB query")
for k in produce segflow0 timer0 segflow2 timer2 loop duckdb; do
  m=$(med "${T[$k]}")
  printf '  %-28s %-36s %9.3f %12.0f\n' "${LABEL[$k]}" "${T[$k]}" "$m" "$(echo "$EVENTS / $m" | bc -l)"
done
loop=$(med "${T[loop]}"); duck=$(med "${T[duckdb]}"); prod=$(med "${T[produce]}")
echo "  Segflow's speed as a ratio to each baseline (baseline median time / Segflow median time):"
printf '  %-34s %14s %14s\n' "" "vs cart_loop" "vs DuckDB"
for w in 0 2; do
  s=$(med "${T[segflow$w]}")
  printf '  %-34s %14.2f %14.2f\n' "run --workers $w" "$(echo "$loop / $s" | bc -l)" "$(echo "$duck / $s" | bc -l)"
  s=$(med "${T[timer$w]}")
  printf '  %-34s %14.2f %14.2f\n' "  (by the run's own timer)" "$(echo "$loop / $s" | bc -l)" "$(echo "$duck / $s" | bc -l)"
  s=$(med "${T[segflow$w]}")
  printf '  %-34s %14.2f %14.2f\n' "produce + run --workers $w" "$(echo "$loop / ($prod + $s)" | bc -l)" "$(echo "$duck / ($prod + $s)" | bc -l)"
done
echo "  targets: >= 0.25 of the hand-written loop; >= 1 of DuckDB on this (absence) audience"
