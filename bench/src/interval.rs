//! Per-interval figures of a measured run (`auth4agent-loadgen --report-every`): a lock-free latency histogram
//! and counters the load tasks record into, the snapshot taken of them at each interval's end, and the CSV time
//! series written from those snapshots with the server's `/proc` readings beside them.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::server::{cpu_seconds, db_bytes, rss_kb};

/// Significant bits kept of each latency: buckets are at most 1/128 (0.8%) of their value wide.
const SIGNIFICANT_BITS: u32 = 8;
const HALF: usize = 1 << (SIGNIFICANT_BITS - 1);
/// Buckets covering every `u32` microsecond value.
const BUCKETS: usize = (32 - SIGNIFICANT_BITS as usize + 1) * HALF + HALF;

/// A log-linear latency histogram in microseconds (HdrHistogram's layout with 8 significant bits), recorded into
/// with one relaxed atomic increment and emptied by the reporter with [`Histogram::take`]: no lock anywhere.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one latency of `us` microseconds.
    pub fn record(&self, us: u32) {
        self.buckets[bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts recorded since the last call, leaving the histogram empty. A concurrent `record` lands either
    /// in this snapshot or in the next one, never in neither.
    pub fn take(&self) -> Counts {
        Counts(
            self.buckets
                .iter()
                .map(|b| b.swap(0, Ordering::Relaxed))
                .collect(),
        )
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket of `us`: exact below 256 µs, then 128 buckets per power of two.
fn bucket(us: u32) -> usize {
    let msb = 31u32.saturating_sub(us.leading_zeros());
    if msb < SIGNIFICANT_BITS {
        return us as usize;
    }
    let shift = msb - (SIGNIFICANT_BITS - 1);
    shift as usize * HALF + (us >> shift) as usize
}

/// The largest value that falls into bucket `i` (percentiles err high, by under 0.8%).
fn highest_in(i: usize) -> u64 {
    if i < 2 * HALF {
        return i as u64;
    }
    let shift = i / HALF - 1;
    let mantissa = (i - shift * HALF) as u64;
    ((mantissa + 1) << shift) - 1
}

/// A histogram's counts at one moment.
pub struct Counts(Vec<u64>);

impl Counts {
    /// How many latencies were counted.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Nearest-rank quantile `q` (0 < q ≤ 1) in milliseconds; 0 when nothing was counted.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.total();
        if n == 0 {
            return 0.0;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, &c) in self.0.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return highest_in(i) as f64 / 1000.0;
            }
        }
        unreachable!("rank ≤ total")
    }
}

/// What the load tasks record during the measured window for the current interval.
#[derive(Default)]
pub struct IntervalCounters {
    latency: Histogram,
    errors: AtomicU64,
}

impl IntervalCounters {
    /// A successful operation that took `us` microseconds.
    pub fn ok(&self, us: u32) {
        self.latency.record(us);
    }

    /// A failed operation.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The interval that just ended: `elapsed` since the measured window began, `length` long.
    pub fn take(&self, elapsed: Duration, length: Duration) -> IntervalSnapshot {
        let counts = self.latency.take();
        IntervalSnapshot {
            elapsed,
            length,
            ok: counts.total(),
            errors: self.errors.swap(0, Ordering::Relaxed),
            p50_ms: counts.quantile_ms(0.50),
            p99_ms: counts.quantile_ms(0.99),
            p999_ms: counts.quantile_ms(0.999),
        }
    }
}

/// One interval of the measured window: operations completed in it whose start was inside the window.
#[derive(Debug, Clone, Copy)]
pub struct IntervalSnapshot {
    /// From the start of the measured window to the end of this interval.
    pub elapsed: Duration,
    pub length: Duration,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

impl IntervalSnapshot {
    /// Successful operations per second in this interval.
    pub fn per_s(&self) -> f64 {
        self.ok as f64 / self.length.as_secs_f64().max(1e-3)
    }
}

/// Receives the per-interval figures of a run from [`crate::load::drive`].
pub trait IntervalSink {
    /// The measured window begins (warm-up is over).
    fn window_started(&mut self) {}
    /// One interval ended.
    fn interval(&mut self, snapshot: &IntervalSnapshot);
}

/// The CSV header of [`CsvReport`].
pub const CSV_HEADER: &str =
    "elapsed_s,tokens_per_s,p50_ms,p99_ms,p999_ms,errors,server_rss_kb,server_cpu_s,db_bytes";

/// The `--csv` time series: one row per interval, flushed as it is written (a soak run can be watched, and a
/// killed run keeps its rows). The server columns are empty when the load generator did not spawn the server.
pub struct CsvReport {
    out: BufWriter<File>,
    server_pid: Option<u32>,
    db: Option<PathBuf>,
    last_cpu_s: Option<f64>,
    rows: u64,
    /// The first write error; later rows are not attempted.
    error: Option<std::io::Error>,
}

impl CsvReport {
    /// Creates `path` (truncating it) and writes the header row. `server_pid` and `db` are the spawned server's.
    pub fn create(
        path: &Path,
        server_pid: Option<u32>,
        db: Option<&Path>,
    ) -> std::io::Result<CsvReport> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "{CSV_HEADER}")?;
        out.flush()?;
        Ok(CsvReport {
            out,
            server_pid,
            db: db.map(Path::to_path_buf),
            last_cpu_s: server_pid.and_then(cpu_seconds),
            rows: 0,
            error: None,
        })
    }

    /// Rows written so far, or the first write error.
    pub fn finish(self) -> std::io::Result<u64> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.rows),
        }
    }

    /// Appends the row of `s`, reading the server's current RSS, its CPU time since the previous row and the
    /// database size.
    pub fn row(&mut self, s: &IntervalSnapshot) -> std::io::Result<()> {
        let rss = self.server_pid.and_then(rss_kb);
        let cpu_now = self.server_pid.and_then(cpu_seconds);
        let cpu = cpu_now
            .zip(self.last_cpu_s)
            .map(|(now, before)| now - before);
        self.last_cpu_s = cpu_now;
        let db = self.db.as_deref().map(db_bytes);
        writeln!(
            self.out,
            "{:.3},{:.1},{:.3},{:.3},{:.3},{},{},{},{}",
            s.elapsed.as_secs_f64(),
            s.per_s(),
            s.p50_ms,
            s.p99_ms,
            s.p999_ms,
            s.errors,
            opt(rss),
            opt(cpu.map(|c| format!("{c:.2}"))),
            opt(db),
        )?;
        self.out.flush()?;
        self.rows += 1;
        Ok(())
    }
}

impl IntervalSink for CsvReport {
    /// The server CPU column's first interval starts here.
    fn window_started(&mut self) {
        self.last_cpu_s = self.server_pid.and_then(cpu_seconds);
    }

    fn interval(&mut self, snapshot: &IntervalSnapshot) {
        if self.error.is_none()
            && let Err(e) = self.row(snapshot)
        {
            self.error = Some(e);
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(255), 255);
        assert_eq!(bucket(u32::MAX), BUCKETS - 1);
        let mut previous = 0;
        for v in (1..2_000_000u32).chain([u32::MAX / 2, u32::MAX - 1, u32::MAX]) {
            let b = bucket(v);
            assert!(
                b == previous || b == previous + 1 || v > 2_000_000,
                "gap at {v}"
            );
            let high = highest_in(b);
            assert!(high >= u64::from(v), "{v} above its bucket's top {high}");
            assert!(
                high - u64::from(v) <= u64::from(v) / 128,
                "bucket of {v} too wide"
            );
            previous = b;
        }
    }

    #[test]
    fn quantiles_and_take() {
        let c = IntervalCounters::default();
        for ms in 1..=1000u32 {
            c.ok(ms * 1000);
        }
        c.error();
        let s = c.take(Duration::from_secs(2), Duration::from_secs(2));
        assert_eq!((s.ok, s.errors), (1000, 1));
        assert_eq!(s.per_s(), 500.0);
        for (got, want) in [(s.p50_ms, 500.0), (s.p99_ms, 990.0), (s.p999_ms, 999.0)] {
            assert!((want..=want * 1.008).contains(&got), "{got} vs {want}");
        }
        let empty = c.take(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!((empty.ok, empty.errors, empty.p99_ms), (0, 0, 0.0));
    }
}
