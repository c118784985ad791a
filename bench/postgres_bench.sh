#!/usr/bin/env bash
# PostgreSQL audience table benchmark (issue 16): one bounded checkpointing run of the
# cart scenario with `output.postgres`, on a throwaway local server (initdb + pg_ctl on a
# free port, fsync off: the server's disk is not what is measured), compared with the same
# run without the table, then the run with the table again (a replay into the filled table:
# every write a duplicate, refused by its stamp). Reports each run's wall time and replay
# throughput (events/s), and what the sink's committer says it applied (changes,
# transactions, seconds in PostgreSQL, changes/s).
# Usage: bench/postgres_bench.sh [USERS] [EVENTS]   (defaults: 200000 2000000)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-200000}
EVENTS=${2:-2000000}
BUILD=${BUILD_DIR:-build/release}
SEGFLOW=$PWD/$BUILD/cli/segflow
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/segflow-pg-bench-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AS=""
if [ "$(id -u)" = 0 ]; then AS="runuser -u postgres --"; chown postgres "$WORK"; fi
cleanup() { $AS "$PGBIN/pg_ctl" -D "$WORK/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
$AS "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust --no-sync >/dev/null
$AS "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
mkdir -p "$WORK/run" && cd "$WORK/run"
"$SEGFLOW" gen cart --users "$USERS" --events "$EVENTS" --seed 42 |
  "$SEGFLOW" produce --log log --topic events --partitions 4 >/dev/null
job() {  # NAME OUTPUT_BLOCK
  cat <<YAML
job: $1
log: log
source: {topics: [events], max_out_of_orderness: 5s}
consent: {event: consent, field: granted}
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
checkpoint: {interval: 2s, dir: ck}
parallelism: 2
$2
YAML
}
job plain "" >plain.yaml
job table "output: {postgres: {dsn: 'host=127.0.0.1 port=$PORT dbname=postgres user=postgres', table: members}}" >table.yaml
t0=$(date +%s.%N); "$SEGFLOW" run plain.yaml --bounded >/dev/null 2>plain.err; t1=$(date +%s.%N)
"$SEGFLOW" run table.yaml --bounded >/dev/null 2>table.err; t2=$(date +%s.%N)
"$SEGFLOW" run table.yaml --bounded >/dev/null 2>replay.err; t3=$(date +%s.%N)
changes=$("$SEGFLOW" consume --log log --topic plain.memberships --committed | wc -l)
echo "events $EVENTS, users $USERS, changes (changelog records) $changes"
line() {  # LABEL SECONDS
  echo "$1 $(echo "$2" | bc) s, $(echo "$EVENTS / ($2)" | bc) events/s replayed, $(echo "$changes / ($2)" | bc) changes/s end to end"
}
line "run, embedded store only:           " "$t1 - $t0"
line "same run, also into the table:      " "$t2 - $t1"
line "again, into the filled table:       " "$t3 - $t2"
grep "postgres table" table.err | sed 's/^segflow: /table run:  /'
grep "postgres table" replay.err | sed 's/^segflow: /replay run: /'
rows=$(psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "select count(*) from members")
echo "rows in the table: $rows"
