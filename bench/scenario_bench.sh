#!/usr/bin/env bash
# Scenario replays (issue #3): bounded replay of the cart and fintech example jobs
# (jobs/cart.yaml's and jobs/fintech.yaml's segments) against the count-window replay of
# bench/replay_bench.sh, all in one invocation on the same machine. Usage:
#   bench/scenario_bench.sh [EVENTS] [USERS] [RUNS]    (defaults: 10000000 1000000 3)
# Environment:
#   SEGFLOW=PATH      the binary (default build/release/cli/segflow; not built here)
#   BENCH_DIR=DIR     working data (default /tmp/segflow-scenario-bench; wiped first)
#   RUN_TIMEOUT=S     limit per replay run in seconds (default 1200)
#   PERF=1            after the timed runs, one `perf record -g` run per scenario
#                     (reports in BENCH_DIR/perf-<scenario>.txt)
#   REUSE_DATA=1      keep the logs a previous invocation produced in BENCH_DIR (same
#                     EVENTS and USERS) instead of generating them again
# Every run is in-process (`--workers 0`), as issue #3 measures it.
# Runs are interleaved (count, cart, fintech, count, cart, ...) so that background load
# hits every scenario alike. Printed: each job's median events/s and its ratio to the
# count-window median, the ratio per round (run i / count run i) and their median, wall
# clock and CPU per run, peak RSS, and the members per segment at the end (checked equal
# across runs). The target of issue #3 is a ratio >= 0.5 (within 2x of the count job).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-10000000}
USERS=${2:-1000000}
RUNS=${3:-3}
SEGFLOW=${SEGFLOW:-build/release/cli/segflow}
SEGFLOW=$(realpath "$SEGFLOW")
RUN_TIMEOUT=${RUN_TIMEOUT:-1200}
[ -x "$SEGFLOW" ] || { echo "no segflow binary at $SEGFLOW (scripts/build.sh release, or set SEGFLOW)" >&2; exit 2; }
WORK=${BENCH_DIR:-/tmp/segflow-scenario-bench}
case "$WORK" in /|"") echo "refusing BENCH_DIR=$WORK" >&2; exit 2 ;; esac
if [ "${REUSE_DATA:-0}" = 1 ]; then
  rm -rf "$WORK/runs" && mkdir -p "$WORK/runs"
else
  rm -rf "$WORK" && mkdir -p "$WORK/runs"
fi
SCENARIOS=(count cart fintech)
declare -A GEN=([count]=media [cart]=cart [fintech]=fintech)

# The jobs. count: replay_bench.sh's job, verbatim. cart and fintech: the segments (and
# the consent / profile blocks they depend on) of jobs/cart.yaml and jobs/fintech.yaml,
# with the log pointing at this bench's log.
mkdir -p "$WORK/count" "$WORK/cart" "$WORK/fintech"
cat > "$WORK/count/job.yaml" <<'YAML'
job: bench-count
log: log
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}
parallelism: 2
YAML
cat > "$WORK/cart/job.yaml" <<'YAML'
job: bench-cart
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
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 30d, at_least: 2}}
parallelism: 2
YAML
cat > "$WORK/fintech/job.yaml" <<'YAML'
job: bench-fintech
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
profile:
  event: identify
segments:
  - id: vip
    when: {profile: {vip: true}}
  - id: high_risk
    when:
      all:
        - profile: {risk_tier: {in: [medium, high]}}
        - any:
            - sum: {event: transaction, where: {status: approved}, field: amount, window: 1h, gt: 5000}
            - count: {event: transaction, where: {status: declined}, window: 1h, at_least: 2}
        - not: {segment: vip}
    membership: {exit_on: {event: kyc_verified}}
parallelism: 2
YAML
# Warn (do not fail) when the example jobs have moved on from the copies above.
for s in cart fintech; do
  if ! diff <(sed -n '/^segments:/,$p' "jobs/$s.yaml") <(sed -n '/^segments:/,$p' "$WORK/$s/job.yaml") >/dev/null; then
    echo "WARNING: the segments of jobs/$s.yaml differ from this bench's copy" >&2
  fi
done

echo "segflow: $SEGFLOW ($(stat -c '%y' "$SEGFLOW"), sha256 $(sha256sum "$SEGFLOW" | cut -c1-12))"
echo "repo commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SCENARIOS[@]}"; do
  if [ "${REUSE_DATA:-0}" = 1 ] && [ -f "$WORK/$s/produced" ] && [ "$(cat "$WORK/$s/produced")" = "$EVENTS $USERS" ]; then
    echo "== $s: reusing the log in $WORK/$s/log ($EVENTS events, $USERS users)"
    continue
  fi
  rm -rf "$WORK/$s/log" "$WORK/$s/produced"
  echo "== $s: generating $EVENTS ${GEN[$s]} events for $USERS users, producing into 4 partitions"
  "$SEGFLOW" gen "${GEN[$s]}" --users "$USERS" --events "$EVENTS" --seed 7 --out "$WORK/$s/events.jsonl" 2>&1
  echo "   $(( $(stat -c %s "$WORK/$s/events.jsonl") / 1024 / 1024 )) MiB of JSON lines"
  "$SEGFLOW" produce --log "$WORK/$s/log" --topic events --partitions 4 < "$WORK/$s/events.jsonl" 2>&1 | tail -2
  rm -f "$WORK/$s/events.jsonl"
  echo "$EVENTS $USERS" > "$WORK/$s/produced"
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RATE WALL CPU RSS MEMBERS
for i in $(seq "$RUNS"); do
  for s in "${SCENARIOS[@]}"; do
    out="$WORK/runs/$s-$i.out"
    echo "== run $i: $s (load $(cut -d' ' -f1 /proc/loadavg))"
    rc=0
    timeout "$RUN_TIMEOUT" /usr/bin/time -f "%M %e %U %S" -o "$WORK/runs/$s-$i.time" \
      "$SEGFLOW" run "$WORK/$s/job.yaml" --bounded --workers 0 > "$out" 2> "$WORK/runs/$s-$i.err" || rc=$?
    cat "$out"
    if [ "$rc" -ne 0 ]; then
      echo "!! $s run $i failed (exit $rc; 124 = timed out after ${RUN_TIMEOUT}s):"; tail -5 "$WORK/runs/$s-$i.err"
      continue
    fi
    read -r rss wall user sys < "$WORK/runs/$s-$i.time"
    RATE[$s]+="$(sed -n 's/.*records (\([0-9]*\) records\/s).*/\1/p' "$out") "
    WALL[$s]+="$wall "
    CPU[$s]+="$(echo "$user + $sys" | bc) "
    RSS[$s]+="$((rss / 1024)) "
    m=$(grep -E '^  segment ' "$out" | awk '{printf "%s=%s ", $2, $3}')
    MEMBERS[$s]+="$m|"
  done
done

echo
echo "== summary: $EVENTS events, $USERS users, $RUNS runs each (interleaved), parallelism 2"
med() { printf '%s\n' $1 | median; }
nth() { echo "$1" | awk -v n="$2" '{print $n}'; }
verdict() { [ "$1" = count ] && echo baseline || { [ "$(echo "$2 >= 0.5" | bc)" = 1 ] && echo met || echo MISSED; }; }
base=$(med "${RATE[count]:-0}")
echo "events/s as the run reports it (records / the run's own timer):"
printf '  %-8s %-44s %10s %7s %s\n' scenario "per run" median ratio "target (ratio >= 0.50)"
for s in "${SCENARIOS[@]}"; do
  m=$(med "${RATE[$s]:-0}")
  ratio=$(echo "$m / $base" | bc -l)
  printf '  %-8s %-44s %10.0f %7.2f %s\n' "$s" "${RATE[$s]:-}" "$m" "$ratio" "$(verdict "$s" "$ratio")"
done
echo "ratio per round (scenario run i / count run i, same moment's load), and their median:"
for s in cart fintech; do
  r=""
  for i in $(seq "$RUNS"); do
    a=$(nth "${RATE[$s]:-}" "$i"); b=$(nth "${RATE[count]:-}" "$i")
    [ -n "$a" ] && [ -n "$b" ] && r+="$(printf '%.2f' "$(echo "$a / $b" | bc -l)") "
  done
  printf '  %-8s %-44s median %.2f %s\n' "$s" "$r" "$(med "${r:-0}")" "$(verdict "$s" "$(med "${r:-0}")")"
done
echo "end to end (EVENTS / wall clock of the whole process) and CPU per run:"
wbase=$(med "${WALL[count]:-0}"); cbase=$(med "${CPU[count]:-0}")
for s in "${SCENARIOS[@]}"; do
  w=$(med "${WALL[$s]:-0}"); c=$(med "${CPU[$s]:-0}")
  printf '  %-8s wall s %s-> median %s = %.0f events/s, ratio %.2f; CPU (user+sys) s %s-> median %s, count/this %.2f\n' \
    "$s" "${WALL[$s]:-}" "$w" "$(echo "$EVENTS / $w" | bc -l)" "$(echo "$wbase / $w" | bc -l)" "${CPU[$s]:-}" "$c" "$(echo "$cbase / $c" | bc -l)"
done
for s in "${SCENARIOS[@]}"; do
  echo "  $s: peak RSS MiB ${RSS[$s]:-}-> median $(med "${RSS[$s]:-0}")"
done
for s in "${SCENARIOS[@]}"; do
  distinct=$(printf '%s' "${MEMBERS[$s]:-}" | tr '|' '\n' | sed '/^$/d' | sort -u)
  if [ "$(printf '%s\n' "$distinct" | sed '/^$/d' | wc -l)" -eq 1 ]; then
    echo "  $s: members at the end (every run the same): $distinct"
  else
    echo "  $s: members at the end DIFFER between runs:"; printf '%s\n' "$distinct" | sed 's/^/    /'
  fi
done

if [ "${PERF:-0}" = 1 ]; then
  set +o pipefail   # head closes the pipe early
  for s in "${SCENARIOS[@]}"; do
    echo "== perf: $s"
    perf record -F 999 -g -o "$WORK/perf-$s.data" -- "$SEGFLOW" run "$WORK/$s/job.yaml" --bounded --workers 0 \
      > "$WORK/runs/$s-perf.out" 2> "$WORK/runs/$s-perf.err" || { echo "perf record failed"; continue; }
    head -1 "$WORK/runs/$s-perf.out"
    { perf report -i "$WORK/perf-$s.data" --no-children --sort symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -40 | sed 's/ *$//'
      echo "-- by object"
      perf report -i "$WORK/perf-$s.data" --no-children --sort dso --stdio 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -10 | sed 's/ *$//'
    } > "$WORK/perf-$s.txt" || true
    head -25 "$WORK/perf-$s.txt"
  done
fi
