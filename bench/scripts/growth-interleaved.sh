#!/usr/bin/env bash
# Cost growth, interleaved: two servers run side by side, one on a database seeded with SEED agents, one on an
# empty one, and the load generator drives them in turn, ROUNDS times each (1,000 agents registered over HTTP per
# run, a fresh operator each time). The host's speed drifts by more than the 10% target within minutes, so only
# runs next to each other are compared: summarize.py reports each round's ratio and their median.
#
# Usage: bash bench/scripts/growth-interleaved.sh OUT_DIR
# Environment: SERVER_BIN, LOADGEN_BIN (release binaries), BACKEND (sqlite, default, or postgres), for postgres
# ADMIN_URL (a role that may create databases, sslmode=disable), SEED (default 1000000), ROUNDS (default 3),
# DURATION (s, default 10), CONCURRENCY (default 64). Writes OUT_DIR/growth-interleaved-{big,small}-N.json and
# the load average before each run to OUT_DIR/loadavg.tsv.
set -euo pipefail
OUT=$1
SERVER=${SERVER_BIN:?SERVER_BIN}
LOADGEN=${LOADGEN_BIN:?LOADGEN_BIN}
BACKEND=${BACKEND:-sqlite}
SEED=${SEED:-1000000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    if [ "$BACKEND" = postgres ]; then
        for db in "${DBS[@]}"; do psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
    fi
}
DBS=()
trap cleanup EXIT

# The server flags of databases "big" and "small" (created fresh on PostgreSQL).
store() {
    if [ "$BACKEND" = postgres ]; then
        python3 -c "import sys;u=sys.argv[1];h,q=u.split('?',1);print('--database-url '+h.rsplit('/',1)[0]+'/'+sys.argv[2]+'?'+q)" \
            "$ADMIN_URL" "a4a_growth_$1_$$"
    else
        echo "--db $WORK/$1.db"
    fi
}
if [ "$BACKEND" = postgres ]; then
    for name in big small; do
        DBS+=("a4a_growth_${name}_$$")
        psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS a4a_growth_${name}_$$" -c "CREATE DATABASE a4a_growth_${name}_$$"
    done
fi
BIG=$(store big)
SMALL=$(store small)

# Seed the big database: the load generator spawns a server on it, seeds it while that server is stopped, and
# drives it for a moment.
# shellcheck disable=SC2086 # the store flags are two words
"$LOADGEN" --server-bin "$SERVER" $BIG --agents 0 --seed-agents "$SEED" --drive-agents 10 --duration 1 --warmup 0 \
    > "$OUT/growth-interleaved-seed.json"

port=18290
for name in big small; do
    flags=$BIG
    [ $name = small ] && flags=$SMALL
    port=$((port + 1))
    # shellcheck disable=SC2086
    AUTH4AGENT_LOG=warn "$SERVER" $flags --listen "127.0.0.1:$port" --dns-server "127.0.0.1:$((port + 100))" \
        --rate-limit 0 --registration-rate-limit 0 --max-challenges-per-did 0 2> "$OUT/growth-interleaved-$name.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/ready" > /dev/null 2>&1 && break
        sleep 0.1
    done
done

for round in $(seq 1 "$ROUNDS"); do
    port=18290
    for name in big small; do
        port=$((port + 1))
        printf '%s\t%s\n' "growth-interleaved-$name-$round" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/loadavg.tsv"
        "$LOADGEN" --url "http://127.0.0.1:$port" --dns-listen "127.0.0.1:$((port + 100))" --agents 1000 \
            --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup 2 > "$OUT/growth-interleaved-$name-$round.json"
        python3 -c "import json,sys;r=json.load(open(sys.argv[1]));print(sys.argv[2], r['throughput_per_s'], 'tokens/s, p99', r['latency_ms']['p99'], 'ms, errors', r['errors'])" \
            "$OUT/growth-interleaved-$name-$round.json" "$name round $round ($BACKEND):"
    done
done
