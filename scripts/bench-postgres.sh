#!/usr/bin/env bash
# Issuance throughput on PostgreSQL with 1 and 2 server replicas on one database, next to SQLite, with the load
# generator (bench/, auth4agent-loadgen): the figures of the PostgreSQL section of BENCHMARKS.md.
#
# Usage: bash scripts/bench-postgres.sh [OUT_DIR]
# Environment: DURATION (s, default 20), WARMUP (s, default 3), CONCURRENCY (total in-flight operations, default 64),
# AGENTS (default 200), PG_GROWTH (seeded agent counts of the cost-growth runs, default "1000 1000000 1000"; empty
# skips them). NO_BUILD=1 uses the release binaries already built; SERVER_BIN and LOADGEN_BIN name other
# binaries (bench/run-benchmarks.sh passes its copies). The load average before each run goes to loadavg.tsv.
# PostgreSQL runs durable (fsync and synchronous_commit on) in its own throwaway cluster on port 55433.
# With 2 replicas, one load generator drives each replica (each with its own operator and DNS server) at half the
# concurrency, started together; the replicas' throughputs are added.
# Cost growth: the load generator spawns one replica on a fresh database, seeds it with N agents
# (`--seed-agents` with `--database-url`) and drives the same 1,000 of them at CONCURRENCY.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-results/postgres-$(date -u +%Y%m%dT%H%M%SZ)}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CONCURRENCY=${CONCURRENCY:-64}
AGENTS=${AGENTS:-200}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

[ -n "${NO_BUILD:-}" ] || cargo build --release -p auth4agent-server -p auth4agent-bench --bins
SERVER=${SERVER_BIN:-${CARGO_TARGET_DIR:-target}/release/auth4agent-server}
LOADGEN=${LOADGEN_BIN:-${CARGO_TARGET_DIR:-target}/release/auth4agent-loadgen}

export AUTH4AGENT_PG_DIR=${AUTH4AGENT_PG_DIR:-${TMPDIR:-/tmp}/auth4agent-pg-bench}
export AUTH4AGENT_PG_PORT=${AUTH4AGENT_PG_PORT:-55433}
export AUTH4AGENT_PG_FSYNC=on
ADMIN=$(bash scripts/postgres.sh start)

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    bash scripts/postgres.sh stop
}
trap cleanup EXIT

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "nproc: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo || true
    echo "postgres: $(psql "$ADMIN" -Atc 'SHOW server_version') fsync=$(psql "$ADMIN" -Atc 'SHOW fsync')"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

# Records the load average just before run NAME (read by bench/scripts/summarize.py).
loadavg() {
    printf '%s\t%s\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/loadavg.tsv"
}
# Creates database NAME (dropping an old one) and prints its URL.
fresh_database() {
    psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
    python3 -c "import sys;u=sys.argv[1];h,q=u.split('?',1);print(h.rsplit('/',1)[0]+'/'+sys.argv[2]+'?'+q)" "$ADMIN" "$1"
}
throughput() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['throughput_per_s'])" "$1"; }
summary() {
    python3 - "$@" <<'EOF'
import json, sys
for f in sys.argv[1:]:
    r = json.load(open(f))
    l = r["latency_ms"]
    print(f'{f.rsplit("/",1)[-1]}: {r["throughput_per_s"]}/s p50 {l["p50"]} ms p99 {l["p99"]} ms p99.9 {l.get("p999")} ms '
          f'errors {r["errors"]} c={r["concurrency"]} agents={r["agents"]}')
EOF
}

# Baseline: SQLite, same load, same machine, same moment.
loadavg sqlite
"$LOADGEN" --server-bin "$SERVER" --agents "$AGENTS" --concurrency "$CONCURRENCY" \
    --duration "$DURATION" --warmup "$WARMUP" > "$OUT/sqlite.json"
summary "$OUT/sqlite.json" | tee -a "$OUT/summary.txt"

# N replicas on one fresh database, each driven by its own load generator.
replicas() {
    local n=$1 db url i
    db="a4a_bench_r${n}_$$"
    url=$(fresh_database "$db")
    PIDS=()
    for i in $(seq 1 "$n"); do
        AUTH4AGENT_LOG=warn "$SERVER" --listen "127.0.0.1:$((18180 + i))" --database-url "$url" \
            --dns-server "127.0.0.1:$((15350 + i))" --rate-limit 0 --registration-rate-limit 0 \
            --max-challenges-per-did 0 2>"$OUT/pg-r$n-server$i.log" &
        PIDS+=($!)
    done
    for i in $(seq 1 "$n"); do
        for _ in $(seq 1 100); do
            curl -fsS "http://127.0.0.1:$((18180 + i))/ready" >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    local gens=()
    loadavg "pg-r$n"
    for i in $(seq 1 "$n"); do
        "$LOADGEN" --url "http://127.0.0.1:$((18180 + i))" --dns-listen "127.0.0.1:$((15350 + i))" \
            --agents "$AGENTS" --concurrency $((CONCURRENCY / n)) --duration "$DURATION" --warmup "$WARMUP" \
            > "$OUT/pg-r$n-gen$i.json" &
        gens+=($!)
    done
    for pid in "${gens[@]}"; do wait "$pid"; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
    summary "$OUT"/pg-r"$n"-gen*.json | tee -a "$OUT/summary.txt"
    local total=0 t
    for i in $(seq 1 "$n"); do
        t=$(throughput "$OUT/pg-r$n-gen$i.json")
        total=$(python3 -c "print(round($total + $t, 1))")
    done
    echo "postgres, $n replica(s): $total tokens/s in total" | tee -a "$OUT/summary.txt"
}

# Cost growth: the same 1,000 driven agents among N seeded ones, each N on a fresh database; a second run of the
# same N is named pg-growth-N-again (the default list brackets 1,000,000 between two runs of 1,000).
growth() {
    local n=$1 db url name="pg-growth-$1"
    [ -e "$OUT/$name.json" ] && name="$name-again"
    db="a4a_bench_growth_${n}_$$"
    url=$(fresh_database "$db")
    loadavg "$name"
    "$LOADGEN" --server-bin "$SERVER" --database-url "$url" --agents 0 --seed-agents "$n" --drive-agents 1000 \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" > "$OUT/$name.json"
    summary "$OUT/$name.json" | tee -a "$OUT/summary.txt"
    psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}

replicas 1
replicas 2
for n in ${PG_GROWTH-1000 1000000 1000}; do growth "$n"; done
# The same comparison interleaved (bench/scripts/growth-interleaved.sh): two servers side by side, driven in turn.
if [ -n "${PG_GROWTH-x}" ]; then
    SERVER_BIN="$SERVER" LOADGEN_BIN="$LOADGEN" BACKEND=postgres ADMIN_URL="$ADMIN" DURATION="$DURATION" \
        CONCURRENCY="$CONCURRENCY" bash bench/scripts/growth-interleaved.sh "$OUT" | tee -a "$OUT/summary.txt"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
echo "results in $OUT"
