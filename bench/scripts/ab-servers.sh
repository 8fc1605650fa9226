#!/usr/bin/env bash
# Two (or more) server builds against each other, interleaved: for each round and each concurrency, every build
# runs the challenge path (1,000 agents, durable SQLite on disk) with the crypto floor measured right before it, in
# an order that rotates each round. The host's speed drifts within minutes, so compare only rows of one round.
#
# Usage: bash bench/scripts/ab-servers.sh OUT_DIR NAME=SERVER_BIN NAME=SERVER_BIN [...]
# Environment: LOADGEN_BIN, CRYPTOFLOOR_BIN (release binaries), ROUNDS (default 3), CONCURRENCY (a list, default
# "256 64"), RATE (tokens/s to pace at; unset: as fast as the server answers), DURATION (s, default 15).
# Writes OUT_DIR/NAME-cC-ROUND.json and floor-NAME-cC-ROUND.json, and prints a line per run: tokens/s, server
# CPU µs per token, that over the adjacent floor, p50 and p99 in ms.
set -euo pipefail
OUT=$1
shift
LOADGEN=${LOADGEN_BIN:?LOADGEN_BIN}
FLOOR=${CRYPTOFLOOR_BIN:?CRYPTOFLOOR_BIN}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-256 64}
DURATION=${DURATION:-15}
BUILDS=("$@")
[ ${#BUILDS[@]} -ge 2 ] || { echo "usage: $0 OUT_DIR NAME=SERVER_BIN NAME=SERVER_BIN [...]" >&2; exit 2; }
PACE=()
[ -n "${RATE:-}" ] && PACE=(--rate "$RATE")
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for c in $CONCURRENCY; do
        for k in $(seq 0 $((${#BUILDS[@]} - 1))); do
            build=${BUILDS[$(((k + round) % ${#BUILDS[@]}))]}
            name=${build%%=*}
            server=${build#*=}
            run="$name-c$c-$round"
            "$FLOOR" --seconds 2 > "$OUT/floor-$run.json"
            "$LOADGEN" --server-bin "$server" --duration "$DURATION" --warmup 3 --agents 1000 --concurrency "$c" \
                "${PACE[@]}" > "$OUT/$run.json"
            python3 - "$OUT/$run.json" "$OUT/floor-$run.json" "$run" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
f = json.load(open(sys.argv[2]))
l = r["latency_ms"]
cpu = r["server_cpu_us_per_op"]
print(f'{sys.argv[3]}: {r["throughput_per_s"]}/s server_cpu {cpu} us/op ({cpu / f["floor_cpu_us_per_token"]:.3f}x floor) '
      f'p50 {l["p50"]} ms p99 {l["p99"]} ms p99.9 {l.get("p999")} ms errors {r["errors"]}', flush=True)
EOF
        done
    done
done
