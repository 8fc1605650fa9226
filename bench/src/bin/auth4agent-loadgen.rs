//! `auth4agent-loadgen`: sets up a verified operator (DNS TXT served by its own loopback DNS server) and N
//! approved agents, then drives challenge + token issuance (or introspection) at a chosen concurrency for a
//! chosen time and prints one JSON document: throughput, latency percentiles, errors, server peak RSS. With
//! `--report-every SECS --csv FILE` it also writes a time series of the measured window, one CSV row per interval.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use auth4agent_bench::api::{Api, TokenRequest};
use auth4agent_bench::http1::Target;
use auth4agent_bench::identity::Identities;
use auth4agent_bench::idle::IdleFlood;
use auth4agent_bench::interval::CsvReport;
use auth4agent_bench::load::{Intervals, LoadSpec, Operation, Percentiles, drive};
use auth4agent_bench::server::{
    HostCpu, ServerSpec, SpawnedServer, cpu_seconds, db_bytes, free_port, peak_rss_kb,
};
use auth4agent_bench::{clock, seed, seed_postgres};
use auth4agent_testkit::TestDns;
use clap::{Parser, ValueEnum};
use serde::Serialize;

/// Scopes every bench agent is approved for; the loop requests the first.
const SCOPES: [&str; 2] = ["bench:read", "bench:write"];
/// Audience requested for every token.
const TOKEN_AUD: &str = "https://api.bench.example";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Challenge + token (one issuance per operation).
    Issue,
    /// Introspection of pre-issued tokens.
    Introspect,
    /// `POST /oauth/token` with a private_key_jwt client assertion (one round trip per issuance).
    #[value(name = "client-credentials")]
    #[serde(rename = "client-credentials")]
    ClientCredentials,
}

/// Load generator for auth4agent-server.
#[derive(Debug, Parser)]
#[command(name = "auth4agent-loadgen", version, about)]
struct Args {
    /// Spawn this server binary (temporary database, free port, rate limit off, --dns-server = our DNS).
    #[arg(long, conflicts_with = "url", required_unless_present = "url")]
    server_bin: Option<PathBuf>,
    /// Target a running server instead; its --dns-server must point at --dns-listen and its rate limit be off.
    #[arg(long)]
    url: Option<String>,
    /// Where our DNS server listens (UDP+TCP). Default: 127.0.0.1:5353 with --url, a free port otherwise.
    #[arg(long)]
    dns_listen: Option<SocketAddr>,
    /// Database file for the spawned server (kept afterwards). Default: a temporary file, removed.
    #[arg(long, requires = "server_bin")]
    db: Option<PathBuf>,
    /// Run the spawned server on this PostgreSQL database (`--database-url`; `--seed-agents` connects to it
    /// without TLS, so give `sslmode=disable`) instead of a SQLite file.
    #[arg(long, requires = "server_bin", conflicts_with = "db")]
    database_url: Option<String>,
    /// Extra flag for the spawned server (repeatable), e.g. --server-arg=--token-default-ttl=600.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// `AUTH4AGENT_LOG` filter of the spawned server (its log goes to <db>.log).
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Agents registered and approved over HTTP (signed requests).
    #[arg(long, default_value_t = 100)]
    agents: u64,
    /// Agents inserted straight into the database while the server is stopped (needs --server-bin).
    #[arg(long, default_value_t = 0, requires = "server_bin")]
    seed_agents: u64,
    /// How many distinct agents the loop cycles through, spread evenly over all agents.
    #[arg(long, default_value_t = 10_000)]
    drive_agents: u64,
    /// Concurrent requests during HTTP setup.
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// What to drive.
    #[arg(long, value_enum, default_value = "issue")]
    mode: Mode,
    /// Tokens issued before an introspection run (cycled through).
    #[arg(long, default_value_t = 1000)]
    tokens: u64,
    /// Concurrent in-flight operations.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Paced total operations per second (default: closed loop, as fast as the server answers).
    #[arg(long)]
    rate: Option<f64>,
    /// Worker threads of the load generator's runtime (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Before the run, write one freshly issued token (`token.jwt`), the server's JWKS (`jwks.json`) and its
    /// issuer (`issuer.txt`) into this directory, for timing `auth4agent verify` offline.
    #[arg(long, value_name = "DIR")]
    save_token: Option<PathBuf>,
    /// Keep this many silent connections open during the run (reconnecting those the server closes), from
    /// loopback source addresses 127.0.1.x, 100 per address.
    #[arg(long, default_value_t = 0)]
    idle_connections: usize,
    /// Every SECS seconds of the measured window, append one row to --csv: that interval's tokens/s (successful
    /// operations/s), p50/p99/p99.9 latency and errors, the spawned server's current RSS, its CPU seconds in the
    /// interval and the database size (main file + WAL); server columns are empty with --url.
    #[arg(long, value_name = "SECS", requires = "csv")]
    report_every: Option<f64>,
    /// The time series file of --report-every (header row first; each row flushed as it is written).
    #[arg(long, value_name = "FILE", requires = "report_every")]
    csv: Option<PathBuf>,
}

/// What the silent-connection flood did during the run.
#[derive(Serialize)]
struct IdleReport {
    connections: usize,
    /// Connections opened in all, reconnections after the server closed one included.
    opened: u64,
    failed_connects: u64,
}

#[derive(Serialize)]
struct Report {
    mode: Mode,
    requests: u64,
    http_requests: u64,
    errors: u64,
    error_kinds: std::collections::BTreeMap<String, u64>,
    throughput_per_s: f64,
    latency_ms: Percentiles,
    concurrency: usize,
    rate_target_per_s: Option<f64>,
    duration_s: f64,
    agents: u64,
    drive_agents: usize,
    server_peak_rss_kb: Option<u64>,
    server_cpu_s: Option<f64>,
    client_cpu_s: Option<f64>,
    /// Server CPU time per operation in µs, warm-up operations included in the denominator as in the CPU window.
    server_cpu_us_per_op: Option<f64>,
    /// Load generator CPU time per operation in µs (same window).
    client_cpu_us_per_op: Option<f64>,
    /// The share of the machine's CPU time the hypervisor stole in the same window, in percent (`/proc/stat`).
    /// CPU times above exclude it, but a run with a high figure shared the host's cores and caches with others.
    host_steal_pct: Option<f64>,
    /// Operations run in warm-up plus measured window, successful or not.
    operations_incl_warmup: u64,
    /// Connections the measured loop reopened (after a failed exchange or a close by the server).
    client_reconnects: u64,
    client_threads: usize,
    db_bytes: Option<u64>,
    seed_db_bytes_per_agent: Option<f64>,
    setup_s: f64,
    /// Descriptors the server held at the end of the measured run.
    server_open_fds: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_flood: Option<IdleReport>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Every core the load generator takes is one the server on the same machine does not get.
    let mut rt = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        rt.worker_threads(args.client_threads);
        rt
    };
    let report = rt.enable_all().build()?.block_on(run(args))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let setup_started = Instant::now();
    let dns_addr = match (args.dns_listen, &args.url) {
        (Some(a), _) => a,
        (None, Some(_)) => auth4agent_testkit::dns::default_listen(),
        (None, None) => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let dns = TestDns::bind(dns_addr).with_context(|| format!("DNS server on {dns_addr}"))?;
    let tmp = tempfile::tempdir()?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| tmp.path().join("auth4agent.db"));

    let spec = match &args.server_bin {
        Some(bin) => Some(ServerSpec {
            bin: bin.clone(),
            db: db.clone(),
            database_url: args.database_url.clone(),
            listen: free_port()?,
            dns: dns.addr(),
            log: args.server_log.clone(),
            extra_args: args.server_args.clone(),
        }),
        None => None,
    };
    let mut server = match &spec {
        Some(spec) => Some(SpawnedServer::start(spec).await?),
        None => None,
    };
    let base = match (&server, &args.url) {
        (Some(s), _) => s.base.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => bail!("give --server-bin or --url"),
    };
    let pool = args.setup_concurrency;
    let mut api = Api::connect(&base, pool).await?;

    // Operator: register, publish the TXT record in our DNS, confirm.
    let ids = Identities::random();
    let op_key = ids.operator_key();
    let op_id = api
        .register_operator(&op_key, ids.domain().as_str())
        .await?;
    let (name, value) = api.verification(&op_id, &op_key).await?;
    dns.add_txt(&name, value.as_str());
    let status = api.confirm_verification(&op_id, &op_key).await?;
    if status != "verified" {
        bail!("operator status after verification: {status}");
    }
    eprintln!(
        "loadgen: operator {op_id} verified ({})",
        ids.domain().as_str()
    );

    register_agents(&api, &ids, &op_id, args.agents, args.setup_concurrency).await?;
    eprintln!(
        "loadgen: {} agents registered and approved over HTTP",
        args.agents
    );

    let mut seed_per_agent = None;
    if args.seed_agents > 0 {
        let (Some(spec), Some(running)) = (&spec, server.as_mut()) else {
            bail!("--seed-agents needs --server-bin");
        };
        running.stop()?;
        let started = Instant::now();
        let range = args.agents..args.agents + args.seed_agents;
        let scopes = SCOPES;
        let (stats, in_database) = match &args.database_url {
            Some(url) => {
                let stats =
                    seed_postgres::seed_agents(url, &ids, &op_id, range, &scopes, clock::now())
                        .await?;
                (stats, seed_postgres::count_agents(url).await?)
            }
            None => {
                let (db2, ids2, op2) = (db.clone(), ids.clone(), op_id.clone());
                let stats = tokio::task::spawn_blocking(move || {
                    seed::seed_agents(&db2, &ids2, &op2, range, &scopes, clock::now())
                })
                .await??;
                (stats, seed::count_agents(&db)?)
            }
        };
        seed_per_agent = Some(
            stats.bytes_after.saturating_sub(stats.bytes_before) as f64 / args.seed_agents as f64,
        );
        eprintln!(
            "loadgen: seeded {} agents in {:.1} s ({in_database} agents in the database)",
            args.seed_agents,
            started.elapsed().as_secs_f64(),
        );
        server = Some(SpawnedServer::start(spec).await?);
        api = Api::connect(&base, pool).await?;
    }

    let total_agents = args.agents + args.seed_agents;
    if total_agents == 0 {
        bail!("no agents: give --agents or --seed-agents");
    }
    let k = args.drive_agents.clamp(1, total_agents);
    let drive_ids: Vec<u64> = (0..k).map(|i| i * total_agents / k).collect();
    let agents: Vec<_> = drive_ids.iter().map(|&i| ids.agent(i)).collect();
    let drive_agents = agents.len();
    let request = TokenRequest {
        scope: auth4agent_protocol::ScopeSet::parse(SCOPES[0])?,
        token_aud: TOKEN_AUD.into(),
    };

    if let Some(dir) = &args.save_token {
        let a = &agents[0];
        let t = api
            .issue(&a.key, &a.did, &request)
            .await
            .map_err(|f| anyhow::anyhow!("issuing the saved token: {}", f.0))?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("token.jwt"), &t.token)?;
        std::fs::write(dir.join("jwks.json"), api.jwks().await?)?;
        std::fs::write(dir.join("issuer.txt"), api.issuer())?;
    }

    let op = match args.mode {
        Mode::Issue => Operation::issue(agents, api.issuer(), request),
        Mode::ClientCredentials => Operation::client_credentials(agents, api.issuer(), request),
        Mode::Introspect => {
            let mut tokens = Vec::with_capacity(args.tokens as usize);
            for n in 0..args.tokens as usize {
                let a = &agents[n % agents.len()];
                let t = api
                    .issue(&a.key, &a.did, &request)
                    .await
                    .map_err(|f| anyhow::anyhow!("pre-issuing a token: {}", f.0))?;
                tokens.push(t.token);
            }
            Operation::introspect(&tokens)
        }
    };
    let setup_s = setup_started.elapsed().as_secs_f64();
    eprintln!(
        "loadgen: setup done in {setup_s:.1} s; driving {:?}",
        args.mode
    );

    let load = LoadSpec {
        concurrency: args.concurrency.max(1),
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        rate: args.rate,
    };
    let target = Target::resolve(&base).await?;
    let flood =
        (args.idle_connections > 0).then(|| IdleFlood::start(target.addr(), args.idle_connections));
    if flood.is_some() {
        // Let the flood reach the server's caps before warm-up starts.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let pid = server.as_ref().map(SpawnedServer::pid);
    let sqlite_file = spec
        .as_ref()
        .filter(|s| s.database_url.is_none())
        .map(|s| s.db.as_path());
    let me = std::process::id();
    let mut csv = match (&args.csv, args.report_every) {
        (Some(path), Some(every)) => {
            if !(every.is_finite() && every > 0.0) {
                bail!("--report-every must be a positive number of seconds");
            }
            let csv = CsvReport::create(path, pid, sqlite_file)
                .with_context(|| format!("creating {}", path.display()))?;
            Some((Duration::from_secs_f64(every), csv))
        }
        _ => None,
    };
    let intervals = csv.as_mut().map(|(every, csv)| Intervals {
        every: *every,
        sink: csv,
    });
    let cpu_before = (pid.and_then(cpu_seconds), cpu_seconds(me));
    let host_before = HostCpu::now();
    let mut outcome = drive(&target, &op, load, intervals).await;
    let cpu_after = (pid.and_then(cpu_seconds), cpu_seconds(me));
    let host_steal_pct = host_before
        .zip(HostCpu::now())
        .and_then(|(before, after)| after.steal_pct_since(&before));
    let server_peak_rss_kb = pid.and_then(peak_rss_kb);
    let server_open_fds = pid
        .and_then(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok())
        .map(Iterator::count);
    let idle_flood = flood.map(|flood| {
        flood.stop();
        IdleReport {
            connections: args.idle_connections,
            opened: flood.opened.load(Ordering::Relaxed),
            failed_connects: flood.failed.load(Ordering::Relaxed),
        }
    });
    if let (Some((_, csv)), Some(path)) = (csv, &args.csv) {
        let rows = csv
            .finish()
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("loadgen: {rows} interval rows in {}", path.display());
    }
    let latency_ms = outcome.percentiles();
    let per_op = match args.mode {
        Mode::Issue => 2,
        Mode::Introspect | Mode::ClientCredentials => 1,
    };
    let server_cpu_s = cpu_before.0.zip(cpu_after.0).map(|(a, b)| b - a);
    let client_cpu_s = cpu_before.1.zip(cpu_after.1).map(|(a, b)| b - a);
    let per_op_us = |cpu: f64| round1(cpu * 1e6 / outcome.operations.max(1) as f64);
    if let Some(mut s) = server.take() {
        s.stop()?;
    }
    Ok(Report {
        mode: args.mode,
        requests: outcome.ok,
        http_requests: (outcome.ok + outcome.error_count()) * per_op,
        errors: outcome.error_count(),
        error_kinds: outcome.errors.clone(),
        throughput_per_s: round1(outcome.throughput()),
        latency_ms,
        concurrency: load.concurrency,
        rate_target_per_s: args.rate,
        duration_s: outcome.measured.as_secs_f64(),
        agents: total_agents,
        drive_agents,
        server_peak_rss_kb,
        server_cpu_s: server_cpu_s.map(round1),
        client_cpu_s: client_cpu_s.map(round1),
        server_cpu_us_per_op: server_cpu_s.map(per_op_us),
        client_cpu_us_per_op: client_cpu_s.map(per_op_us),
        host_steal_pct: host_steal_pct.map(round1),
        operations_incl_warmup: outcome.operations,
        client_reconnects: outcome.reconnects,
        client_threads: args.client_threads.max(1),
        db_bytes: sqlite_file.map(db_bytes),
        seed_db_bytes_per_agent: seed_per_agent.map(round1),
        setup_s: round1(setup_s),
        server_open_fds,
        idle_flood,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Registers agents `0..count` over HTTP and approves each with [`SCOPES`], `concurrency` at a time.
async fn register_agents(
    api: &Api,
    ids: &Identities,
    operator_id: &str,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let op_key = Arc::new(ids.operator_key());
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (api, ids, next, op_key) = (
            api.clone(),
            ids.clone(),
            Arc::clone(&next),
            Arc::clone(&op_key),
        );
        let operator_id = operator_id.to_owned();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let agent = ids.agent(i);
                api.register_agent(&agent.key, &operator_id).await?;
                let status = api.set_scopes(agent.did.as_str(), &op_key, &SCOPES).await?;
                if status != "active" {
                    bail!("agent {} is {status} after approval", agent.did);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
