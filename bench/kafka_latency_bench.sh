#!/usr/bin/env bash
# Live append -> committed change latency over Kafka (issue 14): a live `segflow run` of the
# probe job (bench/latency/job.yaml's segment: a user enters `probe` at the instant of
# their probe event) reads a 3-broker librdkafka mock cluster (`segflow kafka-mock`, real
# TCP on 127.0.0.1). A Python driver feeds one `kcat -P` per partition (linger 0) with
# background `view` events at RATE events/s and one `probe` event of a fresh user every
# 10 ms, all stamped with the wall clock, and reads the changelog as it is committed:
#   kafka-out  the changelog in Kafka (checkpoint interval CHECKPOINT_MS, transactions
#              committed when the checkpoint completes), read by `kcat -C` read_committed;
#   log-out    the changelog in the embedded log, no checkpoints, read by
#              `segflow consume --follow` (which polls every 100 ms when idle).
# A probe's latency: the wall time its "entered" record is read minus its event time (the
# wall time it was written to kcat's stdin). Prints p50/p90/p99/max per output.
# Usage: bench/kafka_latency_bench.sh [SECONDS] [RATE] [CHECKPOINT_MS]  (defaults: 20 2000 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-20}
RATE=${2:-2000}
CHECKPOINT_MS=${3:-1000}
BUILD=${BUILD_DIR:-build/release}
SEGFLOW=$PWD/$BUILD/cli/segflow
command -v kcat >/dev/null || { echo "kafka_latency_bench: kcat is not installed (apt-get install kcat)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/segflow-kafka-latency-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

measure() {  # NAME OUTPUT_YAML CONSUMER...
  local name=$1 output=$2
  shift 2
  "$SEGFLOW" kafka-mock --brokers 3 --topic events:4 --topic "$name.memberships:4" \
    --topic "$name.late:4" --topic "$name.rejected:4" --bootstrap-file "$name.bootstrap" \
    >/dev/null 2>"$name.mock.err" &
  local mock=$!
  PIDS+=("$mock")
  for _ in $(seq 100); do [ -s "$name.bootstrap" ] && break; sleep 0.1; done
  local b
  b=$(cat "$name.bootstrap")
  cat >"$name.yaml" <<YAML
job: $name
$(if [ "$output" = log ]; then echo "log: $name-log"; fi)
source:
  kafka: {bootstrap: "$b", topics: [events], properties: {fetch.wait.max.ms: "5"}}
  max_out_of_orderness: 0s
  idle_timeout: 1h
segments:
  - id: probe
    when: {count: {event: probe, at_least: 1}}
parallelism: 2
YAML
  if [ "$output" = kafka ]; then
    cat >>"$name.yaml" <<YAML
output:
  changelog:
    kafka: {bootstrap: "$b", topic: $name.memberships}
checkpoint: {interval: ${CHECKPOINT_MS}ms}
YAML
  fi
  "$SEGFLOW" run "$name.yaml" >"$name.run.out" 2>"$name.run.err" &
  local run=$!
  PIDS+=("$run")
  local consumer
  if [ "$output" = kafka ]; then
    consumer="kcat -C -u -b $b -t $name.memberships -X isolation.level=read_committed -X fetch.wait.max.ms=5 -q -f %s\\n"
  else
    for _ in $(seq 100); do [ -d "$name-log/$name.memberships" ] && break; sleep 0.1; done
    consumer="$SEGFLOW consume --log $name-log --topic $name.memberships --follow"
  fi
  python3 - "$b" "$SECONDS_" "$RATE" "$name" "$consumer" <<'PY'
import json, subprocess, sys, threading, time
bootstrap, seconds, rate, name, consumer = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
now = lambda: int(time.time() * 1000)
kcats = [subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", "events", "-p", str(p),
                           "-X", "linger.ms=0"], stdin=subprocess.PIPE, text=True) for p in range(4)]
sent, seen = {}, {}
lock = threading.Lock()
def read():
    c = subprocess.Popen(consumer.split(" "), stdout=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL)
    for line in c.stdout:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("segment") == "probe" and r.get("change") == "entered":
            with lock:
                seen.setdefault(r["user_id"], now() - r["at"])
threading.Thread(target=read, daemon=True).start()
start = time.time()
n = probes = 0
next_probe = start
while time.time() - start < seconds:
    t = time.time()
    want = int((t - start) * rate)
    lines = [[] for _ in range(4)]
    while n < want:
        lines[n % 4].append(json.dumps({"user_id": f"bg{n % 1000}", "event": "view", "ts": now()}))
        n += 1
    if t >= next_probe:
        u = f"probe{probes}"
        lines[probes % 4].append(json.dumps({"user_id": u, "event": "probe", "ts": now()}))
        sent[u] = True
        probes += 1
        next_probe += 0.01
    for p in range(4):
        if lines[p]:
            kcats[p].stdin.write("\n".join(lines[p]) + "\n")
            kcats[p].stdin.flush()
    time.sleep(0.001)
# Drain: keep every partition's watermark moving while the last probes are read.
end = time.time() + 10
while time.time() < end and len(seen) < probes:
    for p in range(4):
        kcats[p].stdin.write(json.dumps({"user_id": "tick", "event": "view", "ts": now()}) + "\n")
        kcats[p].stdin.flush()
    time.sleep(0.005)
lat = sorted(seen.values())
q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))] if lat else float("nan")
print(f"| {name} | {rate:.0f} | {n + probes} | {len(lat)}/{probes} | {q(0.5)} | {q(0.9)} | {q(0.99)} | {lat[-1] if lat else 'n/a'} |")
unseen = sorted(int(u[5:]) for u in sent if u not in seen)
if unseen:
    print(f"  {name}: {len(unseen)} probes unseen after a 10 s drain, probe{unseen[0]}..probe{unseen[-1]}", file=sys.stderr)
for k in kcats:
    k.stdin.close()
PY
  kill "$run" 2>/dev/null || true
  wait "$run" 2>/dev/null || true
  kill "$mock" 2>/dev/null || true
  wait "$mock" 2>/dev/null || true
}

printf '| output | events/s | events | probes seen | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|\n'
measure kafka-out kafka
measure log-out log
printf '\nchangelog checkpoint interval (kafka-out): %s ms; load average: %s\n' "$CHECKPOINT_MS" "$(cut -d' ' -f1-3 /proc/loadavg)"
