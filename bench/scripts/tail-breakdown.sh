#!/usr/bin/env bash
# Where the issuance latency tail comes from: one paced run against a server with Prometheus metrics on, then the
# client's percentiles next to the server's own (the /v1/token and /v1/challenge request durations, the store's
# write wait from queueing to acknowledgement after the commit, and the WAL checkpoint durations).
# Usage: bash bench/scripts/tail-breakdown.sh SERVER_BIN LOADGEN_BIN RATE [SECONDS] > out.txt
set -euo pipefail
SERVER=$1 LOADGEN=$2 RATE=$3 SECONDS_=${4:-10}
DIR=$(mktemp -d)
trap 'kill $SPID 2>/dev/null || true; rm -rf "$DIR"' EXIT
PORT=$((20000 + RANDOM % 10000)) MPORT=$((30000 + RANDOM % 10000)) DNS=$((40000 + RANDOM % 10000))
AUTH4AGENT_LOG=warn "$SERVER" --db "$DIR/a.db" --listen "127.0.0.1:$PORT" --dns-server "127.0.0.1:$DNS" \
    --rate-limit 0 --registration-rate-limit 0 --max-challenges-per-did 0 --metrics-listen "127.0.0.1:$MPORT" \
    2>"$DIR/server.log" &
SPID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break; sleep 0.1; done
"$LOADGEN" --url "http://127.0.0.1:$PORT" --dns-listen "127.0.0.1:$DNS" --agents 1000 --concurrency 64 \
    --rate "$RATE" --duration "$SECONDS_" --warmup 2 > "$DIR/run.json" 2>/dev/null
curl -fsS "http://127.0.0.1:$MPORT/metrics" > "$DIR/metrics.txt"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$DIR/run.json" "$DIR/metrics.txt" <<'PY'
import json, re, sys
run = json.load(open(sys.argv[1]))
l = run["latency_ms"]
print(f"client (challenge + token, from each operation's scheduled start): {run['throughput_per_s']}/s "
      f"p50 {l['p50']} ms  p99 {l['p99']} ms  p99.9 {l['p999']} ms")
buckets = {}
for line in open(sys.argv[2]):
    m = re.match(r'(\w+)_bucket\{(.*)le="([^"]+)"\} (\S+)', line)
    if m:
        name, labels, le, count = m.groups()
        key = (name, labels.rstrip(","))
        buckets.setdefault(key, []).append((float("inf") if le == "+Inf" else float(le), float(count)))
def quantile(points, q):
    points.sort()
    total = points[-1][1]
    if total == 0:
        return None
    for le, count in points:
        if count >= q * total:
            return le
for (name, labels), points in sorted(buckets.items()):
    if not any(s in labels for s in ('route="/v1/token"', 'route="/v1/challenge"', 'kind="write"', 'kind="checkpoint')):
        continue
    total = points[-1][1] if points else 0
    qs = ", ".join(f"p{int(q*1000)/10:g} ≤ {quantile(list(points), q)*1000:g} ms" for q in (0.5, 0.99, 0.999))
    print(f"{name}{{{labels}}}: n={int(total)}, {qs} (bucket upper bounds)")
PY
