#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md: criterion (offline verification), issuance sweep and 50%-of-peak run,
# introspection, cost growth (1,000 vs 1,000,000 seeded agents), CLI `auth4agent verify` wall time and peak RSS.
# Usage: bash bench/run-benchmarks.sh [OUT_DIR]   (needs hyperfine and /usr/bin/time: apt-get install -y hyperfine time)
# Run it on an otherwise idle machine: the load generator and the server share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
DURATION=${DURATION:-15}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

cargo build --release -p auth4agent-server -p auth4agent -p auth4agent-bench
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
cp target/release/auth4agent target/release/auth4agent-server target/release/auth4agent-loadgen "$BIN/"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo
  grep -m1 MemTotal /proc/meminfo
  uname -r
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

summary() { # file -> one line
  python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print(f'{sys.argv[1].rsplit("/",1)[-1]}: {r["throughput_per_s"]}/s p50 {l["p50"]} ms p99 {l["p99"]} ms max {l["max"]} ms '
      f'errors {r["errors"]} c={r["concurrency"]} rate={r["rate_target_per_s"]} agents={r["agents"]} '
      f'rss {r["server_peak_rss_kb"]} kB server_cpu {r["server_cpu_s"]} s client_cpu {r["client_cpu_s"]} s '
      f'seed_bytes/agent {r["seed_db_bytes_per_agent"]}')
EOF
}

LG=("$BIN/auth4agent-loadgen" --server-bin "$BIN/auth4agent-server" --duration "$DURATION" --warmup 3)

# 1. Offline verification (criterion + paired A/B line).
cargo bench -p auth4agent-bench --bench verify 2>&1 | tee "$OUT/criterion.txt"

# 2. Issuance, durable SQLite on disk: concurrency sweep, then paced at 50% of the peak.
best=0; bestc=0
for c in 16 64 128 256; do
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "${LG[@]}" --agents 1000 --concurrency "$c" > "$OUT/issue-c$c.json"
  summary "$OUT/issue-c$c.json" | tee -a "$OUT/summary.txt"
  t=$(python3 -c "import json;print(int(json.load(open('$OUT/issue-c$c.json'))['throughput_per_s']))")
  if [ "$t" -gt "$best" ]; then best=$t; bestc=$c; fi
done
half=$((best / 2))
"${LG[@]}" --agents 1000 --concurrency "$bestc" --rate "$half" > "$OUT/issue-half.json"
summary "$OUT/issue-half.json" | tee -a "$OUT/summary.txt"

# 2a. One round trip: client credentials with a private_key_jwt assertion, back to back with the challenge path at
# the same concurrency (compare within the pair only).
"${LG[@]}" --agents 1000 --concurrency "$bestc" --mode issue > "$OUT/pair-issue.json"
"${LG[@]}" --agents 1000 --concurrency "$bestc" --mode client-credentials > "$OUT/pair-client-credentials.json"
summary "$OUT/pair-issue.json" | tee -a "$OUT/summary.txt"
summary "$OUT/pair-client-credentials.json" | tee -a "$OUT/summary.txt"

# 2b. Same, database on tmpfs (no fsync cost): the CPU ceiling of the issuance path.
rm -f /dev/shm/a4a-bench.db*
"${LG[@]}" --agents 1000 --concurrency "$bestc" --db /dev/shm/a4a-bench.db > "$OUT/issue-tmpfs.json"
summary "$OUT/issue-tmpfs.json" | tee -a "$OUT/summary.txt"
rm -f /dev/shm/a4a-bench.db*

# 3. Introspection.
for c in 32 128; do
  "${LG[@]}" --agents 1000 --mode introspect --tokens 1000 --concurrency "$c" > "$OUT/introspect-c$c.json"
  summary "$OUT/introspect-c$c.json" | tee -a "$OUT/summary.txt"
done

# 4. Cost growth: the same 1,000 driven agents among 1,000 or 1,000,000 seeded ones.
for n in 1000 1000000; do
  "${LG[@]}" --agents 0 --seed-agents "$n" --drive-agents 1000 --concurrency "$bestc" > "$OUT/growth-$n.json"
  summary "$OUT/growth-$n.json" | tee -a "$OUT/summary.txt"
done

# 5. CLI `auth4agent verify`, offline.
TOK="$OUT/token"
"$BIN/auth4agent-loadgen" --server-bin "$BIN/auth4agent-server" --agents 1 --duration 0.2 --warmup 0 --save-token "$TOK" > /dev/null
HOME_DIR=$(mktemp -d)
VERIFY=("$BIN/auth4agent" verify --home "$HOME_DIR" --token "$TOK/token.jwt" --jwks "$TOK/jwks.json" --iss "$(cat "$TOK/issuer.txt")")
"${VERIFY[@]}" > /dev/null
hyperfine -N --warmup 50 --runs 500 --export-json "$OUT/cli-verify.json" "${VERIFY[*]}" | tee "$OUT/cli-verify.txt"
for _ in 1 2 3 4 5; do /usr/bin/time -v "${VERIFY[@]}" 2>&1 >/dev/null | grep 'Maximum resident'; done | tee "$OUT/cli-rss.txt"
rm -rf "$HOME_DIR"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
echo "results in $OUT"
