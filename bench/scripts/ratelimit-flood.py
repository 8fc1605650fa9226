#!/usr/bin/env python3
"""Rate limits under a flood: does one client's flood hurt other clients?

Starts a real auth4agent-server (release build) with its per-client rate limit on, then measures the latency of
another client's requests (source address 127.0.0.2) to the rate-limited POST /v1/challenge, paced below that
client's own limit, first with the server otherwise idle, then while a flooding client (127.0.0.1) hammers the same
endpoint from many connections and is answered 429. Prints JSON: p50/p99 unloaded and under flood, their ratio,
and what the flooder got. Loopback only; every loop is bounded in count and time.

The flooder runs in its own process at a lower CPU priority (--flood-nice): on a 2-core machine an unprioritized
Python flooder would take a core from the server and the measured client, which measures the load generator, not
the server (a real flood comes from another host). The server's cost of refusing the flood is still measured.

    python3 bench/scripts/ratelimit-flood.py [--server-bin target/release/auth4agent-server]
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

DID = "did:agent:example.com:0123456789abcdef0123456789abcdef"
BODY = json.dumps({"did": DID}).encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(port, seconds, rate, source):
    """Sequential keep-alive requests from `source`, paced at `rate`/s; returns latencies in ms and statuses."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    lat, statuses = [], {}
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += 1.0 / rate
        t0 = time.perf_counter()
        conn.request("POST", "/v1/challenge", BODY, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        lat.append((time.perf_counter() - t0) * 1000)
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
    conn.close()
    return lat, statuses


def pct(values, p):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 3)


def flood(port, stop, counts, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.1", 0))
    while not stop.is_set():
        try:
            conn.request("POST", "/v1/challenge", BODY, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            with lock:
                counts[resp.status] = counts.get(resp.status, 0) + 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.1", 0))


def flood_process(port, seconds, flooders):
    stop, counts, lock = threading.Event(), {}, threading.Lock()
    threads = [threading.Thread(target=flood, args=(port, stop, counts, lock), daemon=True)
               for _ in range(flooders)]
    for t in threads:
        t.start()
    time.sleep(seconds + 1)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    print(json.dumps(counts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", default="target/release/auth4agent-server")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=10, help="the measured client's requests per second")
    ap.add_argument("--flooders", type=int, default=16, help="flooding connections")
    ap.add_argument("--limit", default="20", help="server --rate-limit (per client, per second)")
    ap.add_argument("--burst", default="40", help="server --rate-limit-burst")
    ap.add_argument("--flood-nice", type=int, default=10, help="niceness of the flooding process")
    ap.add_argument("--flood-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flood_only:
        return flood_process(args.flood_only, args.seconds + 1, args.flooders)

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="a4a-flood-")
    server = subprocess.Popen(
        [args.server_bin, "--listen", f"127.0.0.1:{port}", "--db", os.path.join(tmp, "db.sqlite"),
         "--rate-limit", args.limit, "--rate-limit-burst", args.burst, "--dns-server", "127.0.0.1:9"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "AUTH4AGENT_LOG": "warn"})
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/health")
                break
            except OSError:
                time.sleep(0.1)
        measure(port, 1, args.rate, "127.0.0.2")  # warm-up
        unloaded, unloaded_status = measure(port, args.seconds, args.rate, "127.0.0.2")

        flooder = subprocess.Popen(
            [sys.executable, __file__, "--flood-only", str(port), "--seconds", str(args.seconds),
             "--flooders", str(args.flooders)],
            stdout=subprocess.PIPE, preexec_fn=lambda: os.nice(args.flood_nice))
        time.sleep(1)
        loaded, loaded_status = measure(port, args.seconds, args.rate, "127.0.0.2")
        out, _ = flooder.communicate(timeout=60)
        counts = {int(k): v for k, v in json.loads(out).items()}
        flood_total = sum(counts.values())
        result = {
            "server_rate_limit": {"per_second": args.limit, "burst": args.burst},
            "measured_client": {"source": "127.0.0.2", "rate_per_s": args.rate, "seconds": args.seconds},
            "unloaded_ms": {"p50": pct(unloaded, 50), "p99": pct(unloaded, 99), "n": len(unloaded),
                            "statuses": unloaded_status},
            "under_flood_ms": {"p50": pct(loaded, 50), "p99": pct(loaded, 99), "n": len(loaded),
                               "statuses": loaded_status},
            "p99_ratio": round(pct(loaded, 99) / pct(unloaded, 99), 2),
            "flooder": {"source": "127.0.0.1", "connections": args.flooders, "nice": args.flood_nice,
                        "requests": flood_total,
                        "per_second": round(flood_total / (args.seconds + 1), 1), "statuses": counts},
        }
        print(json.dumps(result, indent=2))
        ok = result["p99_ratio"] <= 2.0 and set(loaded_status) <= {404} and counts.get(429, 0) > 0
        sys.exit(0 if ok else 1)
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
