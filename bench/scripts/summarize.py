#!/usr/bin/env python3
# Turns the output directory of bench/run-benchmarks.sh into summary.md: the machine at the top, then one Markdown
# table (figure, value, load average before the run) ready to paste into BENCHMARKS.md. Reads whatever is there
# (a phase that did not run leaves no row, or a "not measured" row where the table should say so). Sizes are
# decimal MB (kB / 1000), as in BENCHMARKS.md.
# A table of the issues' targets comes first: each with this run's figure and whether it meets it.
# Usage: python3 bench/scripts/summarize.py OUT_DIR   (writes OUT_DIR/summary.md and prints it; stdlib only)
import json
import os
import re
import statistics
import sys


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_loadavg(path):
    """loadavg.tsv: `name<TAB>load1 load5 load15`, one line per run, written just before it."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                name, _, load = line.rstrip("\n").partition("\t")
                if name:
                    out[name] = load
    except OSError:
        pass
    return out


def fmt_int(x):
    return f"{x:,.0f}" if x is not None else "?"


def fmt_ms(x):
    if x is None:
        return "?"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def mb(kb):
    return f"{kb / 1000:.1f} MB" if kb else "?"


def floor_of(r):
    """A cryptofloor report's floor: in thread CPU time when it has one (comparable with the runs' CPU times)."""
    return r.get("floor_cpu_us_per_token") or r["floor_us_per_token"]


class Summary:
    def __init__(self, out):
        self.out = out
        self.rows = []
        self.targets = []
        self.load = read_loadavg(os.path.join(out, "loadavg.tsv"))
        self.load.update({f"postgres/{k}": v for k, v in read_loadavg(os.path.join(out, "postgres", "loadavg.tsv")).items()})
        self.floor = self.crypto_floor()

    def target(self, name, measured, met):
        """One line of the targets table: what the issues ask, this run's figure, and whether it meets it."""
        self.targets.append((name, measured, "**yes**" if met else "no"))

    def row(self, figure, value, run=None):
        load = self.load.get(run, "") if run else ""
        self.rows.append((figure, value, " / ".join(load.split())))

    def crypto_floor(self):
        floors = []
        for when in ("before", "after"):
            r = read_json(os.path.join(self.out, f"cryptofloor-{when}.json"))
            if r:
                floors.append((when, r))
        self.floors = floors
        if not floors:
            return None
        return sum(floor_of(r) for _, r in floors) / len(floors)

    def load_run(self, name):
        return read_json(os.path.join(self.out, f"{name}.json"))

    def run_value(self, r, issuance=True, name=None):
        lat = r.get("latency_ms", {})
        parts = [f"**{fmt_int(r.get('throughput_per_s'))}/s**",
                 f"p50 / p99 / p99.9 {fmt_ms(lat.get('p50'))} / {fmt_ms(lat.get('p99'))} / {fmt_ms(lat.get('p999'))} ms"]
        cpu = r.get("server_cpu_us_per_op")
        if cpu is not None:
            cpu_text = f"server CPU {cpu:.0f} µs/op"
            floor = self.adjacent_floor(name)
            if issuance and floor:
                cpu_text += f" = **{cpu / floor:.2f}× floor** (adjacent floor {floor:.1f} µs)"
            elif issuance and self.floor:
                cpu_text += f" = {cpu / self.floor:.2f}× floor"
            parts.append(cpu_text)
        if r.get("server_peak_rss_kb"):
            parts.append(f"peak RSS {mb(r['server_peak_rss_kb'])}")
        if r.get("host_steal_pct") is not None:
            parts.append(f"steal {r['host_steal_pct']:.0f}%")
        parts.append(f"errors {r.get('errors', '?')}")
        return "; ".join(parts)

    def adjacent_floor(self, name):
        """The floor measured right before run NAME (floor-NAME.json), in µs per token."""
        r = read_json(os.path.join(self.out, f"floor-{name}.json")) if name else None
        return floor_of(r) if r else None

    def run_row(self, figure, name, issuance=True):
        r = self.load_run(name)
        if r:
            self.row(figure, self.run_value(r, issuance, name), name)
        return r

    def build(self):
        self.criterion()
        for when, r in self.floors:
            self.row(f"crypto floor {when} the issuance sweep (1 thread: `verify_strict` of a "
                     f"{r.get('verify_message_bytes', '?')} B proof + `sign` of a {r.get('sign_message_bytes', '?')} B token)",
                     f"**{r['floor_us_per_token']:.1f} µs/token** (verify {r['verify_us']:.1f} µs, sign {r['sign_us']:.1f} µs)",
                     f"cryptofloor-{when}")
        self.issuance()
        self.introspection()
        self.growth()
        self.cli()
        self.postgres()
        self.peak_rss()
        self.soak()

    def criterion(self):
        try:
            text = open(os.path.join(self.out, "criterion.txt")).read()
        except OSError:
            return
        single = re.findall(r"^paired \(\d+ rounds.*?Verifier::verify (\d+)/s, dalek verify_strict (\d+)/s, "
                            r"ratio ([\d.]+)", text, re.M)
        sampled = re.findall(r"^paired over \d+ stack offsets.*?Verifier::verify (\d+)/s, dalek verify_strict "
                             r"(\d+)/s, ratio ([\d.]+)", text, re.M)
        medians = {}
        for name, runs in (("paired rounds", single), ("paired rounds over 64 stack offsets", sampled)):
            if not runs:
                continue
            ratios = [float(r[2]) for r in runs]
            median = medians[name] = statistics.median(ratios)
            full, bare = statistics.median(int(r[0]) for r in runs), statistics.median(int(r[1]) for r in runs)
            spread = f"; {len(runs)} processes: {min(ratios):.3f}–{max(ratios):.3f}" if len(runs) > 1 else ""
            self.row(f"offline `Verifier::verify` / bare `verify_strict` ({name})",
                     f"**ratio {median:.3f}** ({full:,.0f}/s vs {bare:,.0f}/s{spread})", "criterion")
        # The stack-sampled loop decides: one process's stack placement alone moves the single-offset ratio by
        # several percent (bench/examples/stackdepth.rs); the single-offset median is shown beside it.
        decisive = medians.get("paired rounds over 64 stack offsets", medians.get("paired rounds"))
        if decisive is not None:
            shown = "; ".join(f"{v:.3f} ({k})" for k, v in medians.items())
            self.target("4. `Verifier::verify` ≥ 0.95× bare `verify_strict` (paired, median over processes)",
                        shown, decisive >= 0.95)

    def sweep(self, prefix):
        """The runs named PREFIX-cN, by N."""
        names = [f[:-5] for f in os.listdir(self.out) if re.fullmatch(rf"{prefix}-c\d+\.json", f)]
        return sorted(names, key=lambda n: int(n[len(prefix) + 2:]))

    def issuance(self):
        ratios = []
        for name in self.sweep("issue"):
            r = self.load_run(name)
            self.row(f"issuance, durable SQLite, C = {r.get('concurrency')} in flight", self.run_value(r, name=name), name)
            floor = self.adjacent_floor(name) or self.floor
            if r.get("concurrency") in (64, 256) and floor and r.get("server_cpu_us_per_op"):
                ratios.append((r["concurrency"], r["server_cpu_us_per_op"] / floor))
        if ratios:
            self.target("1. server CPU per token ≤ 2.5× the crypto floor (challenge path, C = 64 and 256)",
                        ", ".join(f"{x:.2f}× at C = {c}" for c, x in ratios), all(x <= 2.5 for _, x in ratios))
        paced = []
        for name in ("issue-half", "issue-half-c64"):
            r = self.load_run(name)
            if r:
                self.row(f"issuance paced at 50% of peak (`--rate {r.get('rate_target_per_s')}`, C = {r.get('concurrency')})",
                         self.run_value(r, name=name), name)
                paced.append(r)
        if paced:
            self.target("2. paced at 50% of peak: p99 ≤ 5 ms (p99.9 reported)",
                        "; ".join(f"C = {r['concurrency']}: p99 {fmt_ms(r['latency_ms']['p99'])} ms, p99.9 "
                                  f"{fmt_ms(r['latency_ms'].get('p999'))} ms" for r in paced),
                        all(r["latency_ms"]["p99"] <= 5 for r in paced))
        ratios, cc = [], []
        for n in range(1, 10):
            a = self.run_row(f"challenge path (`issue`), pair round {n}", f"pair-issue-{n}")
            b = self.run_row(f"client credentials (`private_key_jwt`), pair round {n}", f"pair-client-credentials-{n}")
            if a and b and a.get("throughput_per_s"):
                ratios.append(b["throughput_per_s"] / a["throughput_per_s"])
                cc.append(b["throughput_per_s"])
        if ratios:
            median = statistics.median(ratios)
            self.row("client credentials / challenge path (each round; target ≥ 1.5×)",
                     f"**median {median:.2f}×** (rounds: {', '.join(f'{x:.2f}×' for x in ratios)})")
            self.target("issue 13: client credentials ≥ 1.5× the challenge path and ≥ 8,000 tokens/s (medians)",
                        f"{median:.2f}×, {fmt_int(statistics.median(cc))}/s",
                        median >= 1.5 and statistics.median(cc) >= 8000)
        self.run_row("issuance, database on tmpfs (no fsync; diagnosis)", "issue-tmpfs")

    def introspection(self):
        best = 0
        for name in self.sweep("introspect"):
            r = self.load_run(name)
            self.row(f"introspection, C = {r.get('concurrency')}", self.run_value(r, issuance=False), name)
            best = max(best, r.get("throughput_per_s") or 0)
        if best:
            self.target("round 1: introspection ≥ 10,000/s", f"{fmt_int(best)}/s (best concurrency)", best >= 10000)

    def growth(self, prefix="", backend="SQLite"):
        """Cost growth rows from `<prefix>growth-1000.json`, `<prefix>growth-1000000.json` and, when the 1,000 run
        was repeated after the 1,000,000 one, `<prefix>growth-1000-again.json` (then the mean of the two 1,000 runs
        is the baseline)."""
        small = self.run_row(f"cost growth: 1,000 driven among 1,000 agents ({backend})", f"{prefix}growth-1000")
        big = self.run_row(f"cost growth: 1,000 driven among 1,000,000 agents ({backend})", f"{prefix}growth-1000000")
        again = self.run_row(f"cost growth: 1,000 among 1,000 again, after the 1,000,000 run ({backend})",
                             f"{prefix}growth-1000-again")
        baseline = [r for r in (small, again) if r and r.get("throughput_per_s")]
        if baseline and big:
            base = statistics.mean(r["throughput_per_s"] for r in baseline)
            change = (big["throughput_per_s"] / base - 1) * 100
            cpu = ""
            base_cpu = [r["server_cpu_us_per_op"] for r in baseline if r.get("server_cpu_us_per_op")]
            if base_cpu and big.get("server_cpu_us_per_op"):
                cpu = f"; server CPU/op {(big['server_cpu_us_per_op'] / statistics.mean(base_cpu) - 1) * 100:+.1f}%"
            against = "the mean of the two 1,000 runs" if len(baseline) == 2 else "the 1,000 run"
            self.row(f"cost growth 1,000 → 1,000,000 agents, {backend} (target within 10%)",
                     f"**{change:+.1f}%** throughput{cpu} (against {against})")
            if not self.growth_interleaved(prefix.rsplit("pg-", 1)[0], backend):
                self.target(f"5. cost growth within 10% ({backend})", f"{change:+.1f}% throughput", abs(change) <= 10)
        per_agent = [r["seed_db_bytes_per_agent"] for r in (small, big) if r and r.get("seed_db_bytes_per_agent")]
        if per_agent:
            self.row(f"database bytes per agent (seeded, {backend})", " / ".join(f"{b:.0f} B" for b in per_agent))
        return small and big

    def growth_interleaved(self, sub, backend):
        """Rows of bench/scripts/growth-interleaved.sh in OUT/SUB: each round's big/small throughput ratio, their
        median, and the target line. False when that script did not run."""
        ratios = []
        for n in range(1, 10):
            big = self.load_run(f"{sub}growth-interleaved-big-{n}")
            small = self.load_run(f"{sub}growth-interleaved-small-{n}")
            if not (big and small and small.get("throughput_per_s")):
                break
            ratios.append((big["throughput_per_s"], small["throughput_per_s"]))
        if not ratios:
            return False
        seeded = self.load_run(f"{sub}growth-interleaved-seed")
        agents = f"{seeded['agents']:,}" if seeded else "?"
        change = (statistics.median(b / s for b, s in ratios) - 1) * 100
        rounds = ", ".join(f"{b:,.0f} vs {s:,.0f}/s" for b, s in ratios)
        self.row(f"cost growth, interleaved: 1,000 agents driven on a server with {agents} seeded agents vs one "
                 f"without ({backend}, {len(ratios)} rounds, `growth-interleaved.sh`)",
                 f"**{change:+.1f}%** (median of the rounds' ratios; rounds: {rounds})", f"{sub}growth-interleaved-big-1")
        self.target(f"5. cost growth within 10% ({backend}, interleaved rounds)", f"{change:+.1f}% throughput",
                    abs(change) <= 10)
        return True

    def cli(self):
        h = read_json(os.path.join(self.out, "cli-verify.json"))
        if h:
            res = h["results"][0]
            self.row("CLI `auth4agent verify` wall time (hyperfine, 500 runs)",
                     f"**median {res['median'] * 1000:.2f} ms** (mean {res['mean'] * 1000:.2f} ± {res['stddev'] * 1000:.2f} ms)",
                     "cli-verify")
            self.target("round 1: CLI `auth4agent verify` median ≤ 3 ms", f"{res['median'] * 1000:.2f} ms",
                        res["median"] <= 0.003)
        try:
            kb = [int(x) for x in re.findall(r"Maximum resident set size \(kbytes\): (\d+)",
                                             open(os.path.join(self.out, "cli-rss.txt")).read())]
        except OSError:
            kb = []
        if kb:
            self.row("CLI `auth4agent verify` peak RSS", f"**{min(kb) / 1000:.1f}–{max(kb) / 1000:.1f} MB** ({len(kb)} runs)",
                     "cli-verify")
            self.target("round 1: CLI peak RSS ≤ 10 MB", f"{max(kb) / 1000:.1f} MB", max(kb) <= 10000)

    def postgres(self):
        pg = os.path.join(self.out, "postgres")
        try:
            note = open(os.path.join(self.out, "postgres-skipped.txt")).read().strip()
        except OSError:
            note = ""
        if note:
            self.row("PostgreSQL, 1 and 2 replicas", f"not measured ({note})")
        if not os.path.isdir(pg) and not note:
            return
        sqlite = read_json(os.path.join(pg, "sqlite.json"))  # None when the phase did not run
        if sqlite:
            self.row(f"PostgreSQL phase baseline: SQLite, C = {sqlite.get('concurrency')}, {sqlite.get('agents')} agents",
                     self.run_value(sqlite), "postgres/sqlite")
        for n in (1, 2):
            gens = [read_json(os.path.join(pg, f"pg-r{n}-gen{i}.json")) for i in range(1, n + 1)]
            if not all(gens):
                continue
            total = sum(g["throughput_per_s"] for g in gens)
            p99 = [g["latency_ms"]["p99"] for g in gens]
            p999 = [g["latency_ms"].get("p999") for g in gens]
            errors = sum(g["errors"] for g in gens)
            parts = " + ".join(fmt_int(g["throughput_per_s"]) for g in gens)
            value = f"**{fmt_int(total)}/s**" + (f" ({parts})" if n > 1 else "")
            p50 = [g["latency_ms"]["p50"] for g in gens]
            value += f"; p50 {' / '.join(fmt_ms(x) for x in p50)} ms; p99 {' / '.join(fmt_ms(x) for x in p99)} ms"
            value += f"; p99.9 {' / '.join(fmt_ms(x) for x in p999)} ms"
            value += f"; errors {errors}"
            if sqlite and sqlite.get("throughput_per_s"):
                value += f"; **{total / sqlite['throughput_per_s']:.2f}× SQLite**"
                if n == 1:
                    ratio = total / sqlite["throughput_per_s"]
                    self.target("3. PostgreSQL (durable, 1 replica) ≥ 3,000 tokens/s and ≥ 0.45× SQLite",
                                f"{fmt_int(total)}/s, {ratio:.2f}×", total >= 3000 and ratio >= 0.45)
            self.row(f"PostgreSQL (durable), {n} replica{'s' if n > 1 else ''}, C = "
                     f"{sum(g['concurrency'] for g in gens)} in total", value, f"postgres/pg-r{n}")
        if not self.growth("postgres/pg-", "PostgreSQL"):
            self.row("cost growth on PostgreSQL", "not measured (no `postgres/pg-growth-*.json`: PG_GROWTH was empty?)")

    def peak_rss(self):
        peaks = []
        for f in os.listdir(self.out):
            if f.endswith(".json"):
                r = read_json(os.path.join(self.out, f))
                if isinstance(r, dict) and r.get("server_peak_rss_kb"):
                    peaks.append(r["server_peak_rss_kb"])
        if peaks:
            self.row("server peak RSS, every spawned-server run (target ≤ 64 MB)",
                     f"**{min(peaks) / 1000:.1f}–{max(peaks) / 1000:.1f} MB**")
            self.target("round 1: server peak RSS ≤ 64 MB (every spawned-server run)", f"at most {max(peaks) / 1000:.1f} MB",
                        max(peaks) <= 64000)

    def soak(self):
        r = self.load_run("soak")
        if not r:
            return
        self.row(f"soak: {r.get('duration_s', 0) / 60:.0f} min paced at `--rate {r.get('rate_target_per_s')}` (50% of peak)",
                 self.run_value(r), "soak")
        try:
            import csv
            with open(os.path.join(self.out, "soak.csv"), newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError:
            rows = []
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            num = lambda row, k: float(row[k]) if row.get(k) else None
            p99 = [num(x, "p99_ms") for x in rows if x.get("p99_ms")]
            rss = (num(first, "server_rss_kb"), num(last, "server_rss_kb"))
            db = (num(first, "db_bytes"), num(last, "db_bytes"))
            hours = (num(last, "elapsed_s") - num(first, "elapsed_s")) / 3600
            rate = [num(x, "tokens_per_s") for x in rows if x.get("tokens_per_s")]
            p999 = [num(x, "p999_ms") for x in rows if x.get("p999_ms")]
            text = (f"{len(rows)} intervals; interval tokens/s {min(rate):,.0f}–{max(rate):,.0f}; "
                    f"interval p99 {min(p99):.1f}–{max(p99):.1f} ms, p99.9 {min(p999):.1f}–{max(p999):.1f} ms")
            if None not in rss:
                text += f"; RSS {rss[0] / 1000:.1f} → {rss[1] / 1000:.1f} MB"
            if None not in db and hours > 0:
                text += f"; database {db[0] / 1e6:.0f} → {db[1] / 1e6:.0f} MB ({(db[1] - db[0]) / 1e6 / hours:.0f} MB/h)"
            self.row("soak time series (`soak.csv`, plot `soak.png`)", text)

    def markdown(self):
        lines = []
        try:
            machine = [l.rstrip("\n") for l in open(os.path.join(self.out, "machine.txt"))]
        except OSError:
            machine = []
        for l in machine:
            key, colon, value = l.partition(":")
            lines.append(f"- {key.strip()}: {value.strip()}" if colon else f"- {l}")
        if self.floor:
            lines.append(f"- crypto floor used for the `× floor` ratios: {self.floor:.1f} µs/token "
                         f"(mean of the runs before and after the issuance sweep)")
        if self.targets:
            lines.append("")
            lines.append("| target | this run | met? |")
            lines.append("| --- | --- | --- |")
            order = lambda t: (0, int(t[0].split(".")[0])) if t[0][0].isdigit() else (1, t[0])
            lines.extend(f"| {name} | {measured} | {met} |" for name, measured, met in sorted(self.targets, key=order))
        lines.append("")
        lines.append("| figure | value | load average before (1 / 5 / 15 min) |")
        lines.append("| --- | --- | --- |")
        for figure, value, load in self.rows:
            lines.append(f"| {figure} | {value} | {load} |")
        return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py OUT_DIR")
    s = Summary(sys.argv[1])
    s.build()
    text = s.markdown()
    with open(os.path.join(sys.argv[1], "summary.md"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
