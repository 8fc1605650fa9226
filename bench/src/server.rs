//! A real `auth4agent-server` process for a load run: temporary SQLite file (or a given PostgreSQL database), free
//! loopback port, the run's DNS server, rate limiting off. Also reads from `/proc` a process's current and peak RSS
//! and CPU time, this thread's CPU time and the machine's stolen CPU time; and the SQLite database's size.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How to start the server.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub bin: PathBuf,
    /// The SQLite file, unless `database_url` is given; its log goes to `<db>.log` either way.
    pub db: PathBuf,
    /// A PostgreSQL database to run on (`--database-url`) instead of the SQLite file.
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    pub dns: SocketAddr,
    /// `AUTH4AGENT_LOG` filter for the server's own logs (written to `<db>.log`).
    pub log: String,
    /// Extra flags passed through verbatim.
    pub extra_args: Vec<String>,
}

/// A running server; stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
pub struct SpawnedServer {
    child: Child,
    pub base: String,
}

/// A free TCP port on 127.0.0.1 (bound then released; the server binds it right after).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?)
}

impl SpawnedServer {
    /// Starts the server and waits until `/ready` answers 200 (at most 30 s).
    pub async fn start(spec: &ServerSpec) -> anyhow::Result<SpawnedServer> {
        let log = File::create(log_path(&spec.db)).context("creating the server log file")?;
        let mut command = Command::new(&spec.bin);
        match &spec.database_url {
            Some(url) => command.arg("--database-url").arg(url),
            None => command.arg("--db").arg(&spec.db),
        };
        let child = command
            .arg("--listen")
            .arg(spec.listen.to_string())
            .arg("--dns-server")
            .arg(spec.dns.to_string())
            .arg("--rate-limit")
            .arg("0")
            // The setup registers every agent under one operator, as fast as the server takes them.
            .arg("--registration-rate-limit")
            .arg("0")
            // A few driven agents at high concurrency hold many challenges each.
            .arg("--max-challenges-per-did")
            .arg("0")
            .args(&spec.extra_args)
            .env("AUTH4AGENT_LOG", &spec.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", spec.bin.display()))?;
        let mut server = SpawnedServer {
            child,
            base: format!("http://{}", spec.listen),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited during startup ({status}); see its log");
            }
            if let Ok(resp) = http.get(format!("{}/ready", self.base)).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server gracefully (SIGTERM via `kill`, SIGKILL after 5 s) and waits for it.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Where the server's stderr goes.
pub fn log_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".log");
    PathBuf::from(p)
}

/// Peak resident set size (`VmHWM`) of a process, in KiB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Current resident set size (`VmRSS`) of a process, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

/// User + system CPU time of a process so far, in seconds (`/proc/<pid>/stat`, clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// The calling thread's user + system CPU time so far, in seconds (`/proc/thread-self/stat`).
pub fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The machine's CPU time so far, all cores, in clock ticks (the `cpu` line of `/proc/stat`).
#[derive(Debug, Clone, Copy)]
pub struct HostCpu {
    /// Every state: user, nice, system, idle, iowait, irq, softirq, steal.
    total: u64,
    /// Time the hypervisor ran something else while a virtual CPU had work.
    steal: u64,
}

impl HostCpu {
    /// Reads `/proc/stat`.
    pub fn now() -> Option<HostCpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        Some(HostCpu {
            total: ticks.iter().sum(),
            steal: *ticks.get(7)?,
        })
    }

    /// The share of the machine's CPU time stolen since `earlier`, in percent.
    pub fn steal_pct_since(&self, earlier: &HostCpu) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        (total > 0).then(|| steal as f64 * 100.0 / total as f64)
    }
}

/// Total size of the SQLite database: main file plus WAL.
pub fn db_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process_figures() {
        let pid = std::process::id();
        assert!(peak_rss_kb(pid).is_some_and(|kb| kb > 0));
        assert!(rss_kb(pid).is_some_and(|kb| kb > 0 && Some(kb) <= peak_rss_kb(pid)));
        assert!(cpu_seconds(pid).is_some());
        assert!(thread_cpu_seconds().is_some());
        let before = HostCpu::now().unwrap();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        let steal = HostCpu::now().unwrap().steal_pct_since(&before).unwrap();
        assert!((0.0..=100.0).contains(&steal));
        assert!(free_port().unwrap().ip().is_loopback());
    }
}
