#!/usr/bin/env python3
"""The disk's own commit latency: append one 4 KiB page to a file and fsync it (or fdatasync), back to back, for SECONDS, in
DIR (default: the system temporary directory, where the load generator's database lives). Prints one JSON document
with the latency percentiles in milliseconds: the floor under any durable commit's wait on this machine, to set
beside a load run's p99 (BENCHMARKS.md, "Where the latency tail came from").

With --overwrite the pages go into a file already 16 MiB long, in order and wrapping around, as SQLite reuses its
WAL after a checkpoint: the file's size never changes, which is where fdatasync can skip the journal commit that
fsync makes for the file's modification time.

Usage: python3 bench/scripts/fsync-latency.py [--seconds 10] [--dir DIR] [--sync fsync|fdatasync] [--overwrite]
"""
import argparse
import json
import os
import tempfile
import time


def percentile(sorted_values, q):
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--sync", choices=("fdatasync", "fsync"), default="fsync")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    sync = os.fdatasync if args.sync == "fdatasync" else os.fsync
    page = os.urandom(4096)
    fd, path = tempfile.mkstemp(prefix="a4a-fsync-", dir=args.dir)
    latencies = []
    region = 4096 * 4096
    try:
        if args.overwrite:
            for _ in range(region // len(page)):
                os.write(fd, page)
            os.fsync(fd)
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            if args.overwrite:
                os.pwrite(fd, page, (len(latencies) * len(page)) % region)
            else:
                os.write(fd, page)
            sync(fd)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            if not args.overwrite and len(latencies) % 4096 == 0:  # keep the file small, like a checkpointed WAL
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
    finally:
        os.close(fd)
        os.unlink(path)
    latencies.sort()
    print(json.dumps({
        "dir": args.dir,
        "sync": args.sync,
        "overwrite": args.overwrite,
        "commits": len(latencies),
        "commits_per_s": round(len(latencies) / args.seconds, 1),
        "latency_ms": {q: round(percentile(latencies, v), 3)
                       for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))}
                      | {"max": round(latencies[-1], 3)},
    }, indent=2))


if __name__ == "__main__":
    main()
