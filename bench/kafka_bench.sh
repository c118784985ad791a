#!/usr/bin/env bash
# Kafka source benchmark (issue 14): the same cart events replayed bounded from the
# embedded log and from a 3-broker librdkafka mock cluster (`segflow kafka-mock`, real TCP
# on 127.0.0.1), each partition of Kafka holding exactly the log partition's records
# (produced with kcat -p). Reports each run's wall time, records/s and the ratio, and
# checks that both changelogs are byte-identical.
# Usage: bench/kafka_bench.sh [USERS] [EVENTS] [WORKERS]   (defaults: 20000 500000 0)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-20000}
EVENTS=${2:-500000}
WORKERS=${3:-0}
BUILD=${BUILD_DIR:-build/release}
SEGFLOW=$PWD/$BUILD/cli/segflow
command -v kcat >/dev/null || { echo "kafka_bench: kcat is not installed (apt-get install kcat)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/segflow-kafka-bench-XXXXXX)
MOCK=""
cleanup() { if [ -n "$MOCK" ]; then kill "$MOCK" 2>/dev/null || true; wait "$MOCK" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
"$SEGFLOW" kafka-mock --brokers 3 --topic events:4 --bootstrap-file bootstrap >/dev/null 2>mock.err &
MOCK=$!
for _ in $(seq 100); do [ -s bootstrap ] && break; sleep 0.1; done
B=$(cat bootstrap)
"$SEGFLOW" gen cart --users "$USERS" --events "$EVENTS" --seed 42 > events.jsonl
"$SEGFLOW" produce --log log --topic events --partitions 4 < events.jsonl >/dev/null
t0=$(date +%s.%N)
# Split the events as `segflow produce --partitions 4` does (engine/common/key_group.h's
# HashUser, ported), then kcat each split into its partition, in order.
python3 - events.jsonl <<'PY'
import json, sys
M = (1 << 64) - 1
def hash_user(u):
    h = 1469598103934665603
    for c in u.encode():
        h = ((h ^ c) * 1099511628211) & M
    h = (h + 0x9e3779b97f4a7c15) & M
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & M
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & M
    return h ^ (h >> 31)
outs = [open(f"part{p}.jsonl", "w") for p in range(4)]
for line in open(sys.argv[1]):
    u = json.loads(line)["user_id"]
    outs[hash_user(u if isinstance(u, str) else str(u)) % 4].write(line)
PY
for p in 0 1 2 3; do kcat -P -b "$B" -t events -p "$p" < part$p.jsonl; done
t1=$(date +%s.%N)
job() {  # SOURCE_LINE
  cat <<YAML
job: cart
log: log
source:
$1
  max_out_of_orderness: 5s
consent: {event: consent, field: granted, default: granted}
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
parallelism: 2
YAML
}
job "  topics: [events]" > log.yaml
job "  kafka: {bootstrap: \"$B\", topics: [events]}" > kafka.yaml
run() {  # JOB -> prints seconds
  local s e
  s=$(date +%s.%N)
  "$SEGFLOW" run "$1" --bounded --workers "$WORKERS" > "$1.out"
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}
log_s=$(run log.yaml)
"$SEGFLOW" consume --log log --topic cart.memberships > log.changelog
kafka_s=$(run kafka.yaml)
"$SEGFLOW" consume --log log --topic cart.memberships > kafka.changelog
same=no
cmp -s log.changelog kafka.changelog && same=yes
printf '| source | events | wall s | events/s |\n|---|---|---|---|\n'
printf '| embedded log | %s | %.2f | %.0f |\n' "$EVENTS" "$log_s" "$(echo "$EVENTS / $log_s" | bc -l)"
printf '| Kafka (mock, 3 brokers) | %s | %.2f | %.0f |\n' "$EVENTS" "$kafka_s" "$(echo "$EVENTS / $kafka_s" | bc -l)"
printf '\nKafka / log wall time: %.2fx; changelogs byte-identical: %s (%s records); kcat produce: %.2f s; workers: %s\n' \
  "$(echo "$kafka_s / $log_s" | bc -l)" "$same" "$(wc -l < log.changelog)" "$(echo "$t1 - $t0" | bc)" "$WORKERS"
