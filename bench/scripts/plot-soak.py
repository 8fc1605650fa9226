#!/usr/bin/env python3
# Plots a soak run's time series (auth4agent-loadgen --report-every SECS --csv FILE): four panels over time,
# tokens/s, p99 and p99.9 latency, server RSS, database size. Headless (Agg backend); writes a PNG.
# Usage: python3 bench/scripts/plot-soak.py SOAK.CSV OUT.PNG
# Needs matplotlib: pip install -r bench/scripts/requirements-plot.txt
import csv
import sys

REQUIREMENTS = "bench/scripts/requirements-plot.txt"


def number(cell):
    """A CSV cell as a float; None when empty (server columns with --url)."""
    return float(cell) if cell not in ("", None) else None


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"plot-soak: {path} has no data rows (only a header, or empty)")
    missing = {"elapsed_s", "tokens_per_s", "p99_ms", "p999_ms", "server_rss_kb", "db_bytes"} - set(rows[0])
    if missing:
        sys.exit(f"plot-soak: {path} lacks the columns {', '.join(sorted(missing))}")
    return {key: [number(r[key]) for r in rows] for key in rows[0]}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot-soak.py SOAK.CSV OUT.PNG")
    src, dst = sys.argv[1], sys.argv[2]
    data = load(src)
    try:
        import matplotlib
    except ImportError:
        sys.exit(f"plot-soak: matplotlib is not installed; install it with: pip install -r {REQUIREMENTS}")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [t / 60 for t in data["elapsed_s"]]
    mb = lambda values, unit: [v / unit if v is not None else None for v in values]
    panels = [
        ("tokens/s", [("tokens/s", data["tokens_per_s"])]),
        ("latency (ms)", [("p99", data["p99_ms"]), ("p99.9", data["p999_ms"])]),
        ("server RSS (MB)", [("RSS", mb(data["server_rss_kb"], 1000))]),
        ("database (MB)", [("db + WAL", mb(data["db_bytes"], 1e6))]),
    ]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(9, 10), constrained_layout=True)
    for ax, (label, series) in zip(axes, panels):
        for name, values in series:
            points = [(x, y) for x, y in zip(minutes, values) if y is not None]
            if points:
                ax.plot(*zip(*points), marker=".", label=name)
        if not any(y is not None for _, values in series for y in values):
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if len(series) > 1:
            ax.legend(loc="upper left")
    axes[-1].set_xlabel("minutes into the measured window")
    errors = sum(v or 0 for v in data.get("errors", []))
    fig.suptitle(f"soak: {src.rsplit('/', 1)[-1]} ({len(minutes)} intervals, {int(errors)} errors)")
    fig.savefig(dst, dpi=100)
    print(f"plot-soak: wrote {dst}")


if __name__ == "__main__":
    main()
