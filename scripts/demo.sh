#!/usr/bin/env bash
# Installs what is missing, builds, generates sample data for the seed's three scenarios,
# runs each example job as a bounded run on the embedded default and prints its audiences.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release >/dev/null
SEGFLOW=build/release/cli/segflow
USERS=${DEMO_USERS:-20000}
EVENTS=${DEMO_EVENTS:-500000}
for scenario in media cart fintech; do
  data=jobs/data/$scenario
  rm -rf "$data"
  mkdir -p "$data"
  echo "== $scenario: generating $EVENTS events for $USERS users"
  status=0
  "$SEGFLOW" gen "$scenario" --users "$USERS" --events "$EVENTS" --seed 42 --malformed-fraction 0.0005 \
    | "$SEGFLOW" produce --log "$data/log" --topic events --partitions 4 --rejects "$data/rejected.jsonl" \
      2> "$data/produce.err" || status=$?
  tail -n 1 "$data/produce.err"
  # Exit code 1: some lines were rejected (the generator's deliberately malformed ones).
  if [ "$status" -eq 1 ]; then
    echo "   (malformed lines rejected on purpose: reasons in $data/produce.err, lines in $data/rejected.jsonl)"
  elif [ "$status" -ne 0 ]; then
    cat "$data/produce.err" >&2
    exit "$status"
  fi
  "$SEGFLOW" run "jobs/$scenario.yaml" --bounded
done
