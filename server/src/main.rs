//! `auth4agent-server` binary: parses flags, opens the store, then serves or runs a subcommand.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use tokio::sync::watch;

use auth4agent_server::app;
use auth4agent_server::background;
use auth4agent_server::clock::{SharedClock, SystemClock};
use auth4agent_server::config::{Cli, Command, Config, JWKS_MAX_AGE, KeysCommand, LogFormat};
use auth4agent_server::connections::{ConnectionLimits, Connections};
use auth4agent_server::dns::DnsVerifier;
use auth4agent_server::keyring::KeyRing;
use auth4agent_server::listener;
use auth4agent_server::store::{PostgresStore, SqliteStore, Store};

/// Under load glibc malloc/free cost ~10% of server CPU (perf); mimalloc's per-thread heaps less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.serve.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let mut filter =
        EnvFilter::try_from_env("AUTH4AGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // tokio-postgres logs every statement's parameters at debug level, and inserting a signing key
    // passes its private PEM as one: cap that crate at info whatever AUTH4AGENT_LOG asks.
    for target in [
        "tokio_postgres",
        "tokio_postgres::query",
        "tokio_postgres::prepare",
    ] {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let store = open_store(&cli).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Some(Command::Keys {
            action: KeysCommand::Rotate { now: immediate },
        }) => {
            // Retired keys stay published for the longest token lifetime plus the verifiers' leeway.
            let retention = cli.serve.token_max_ttl + auth4agent_protocol::DEFAULT_LEEWAY.as_secs();
            let now = clock.now();
            let ring = KeyRing::load_or_init(store, now, retention).await?;
            let old = ring.active(now).kid().to_owned();
            let publish_ahead = if immediate {
                0
            } else {
                cli.serve.key_publish_ahead
            };
            if !immediate && publish_ahead < JWKS_MAX_AGE {
                tracing::warn!(
                    publish_ahead,
                    "--key-publish-ahead is shorter than the JWKS max-age ({JWKS_MAX_AGE} s): \
                     verifiers holding a cached JWKS may meet the new kid before they know it"
                );
            }
            let scheduled = ring.rotate(now, now.saturating_add(publish_ahead)).await?;
            tracing::info!(
                new_kid = %scheduled.kid,
                retiring_kid = %old,
                activates_at = scheduled.activates_at,
                retired_key_published_until = scheduled.previous_not_after,
                "signing key added: published now, signing from activates_at"
            );
            println!("{}", scheduled.kid);
            Ok(())
        }
        None => {
            let mut config = Config::from_args(&cli.serve).map_err(anyhow::Error::msg)?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let local = listener.local_addr()?;
            if cli.serve.issuer.is_none() {
                // Derived from the bound address, so `--listen 127.0.0.1:0` gets a usable issuer.
                config.issuer = format!("http://{local}");
                if local.ip().is_unspecified() {
                    tracing::warn!(
                        issuer = %config.issuer,
                        "listening on all interfaces without --issuer; clients must sign requests for this issuer URL"
                    );
                }
            }
            config.listen = local;
            serve(listener, config, store, clock, cli.serve.metrics_listen).await
        }
    }
}

/// PostgreSQL when `--database-url` is given, else the SQLite file `--db`.
async fn open_store(cli: &Cli) -> anyhow::Result<Arc<dyn Store>> {
    match &cli.database_url {
        Some(url) => {
            let store = PostgresStore::connect(url, usize::from(cli.database_max_connections))
                .await
                .context("cannot open the PostgreSQL database (--database-url)")?;
            tracing::info!(backend = "postgresql", database = %store.target(), "storage ready");
            Ok(Arc::new(store))
        }
        None => {
            // The serving process owns the file (exclusive lock, row cache); `keys rotate` does not.
            let store = if cli.command.is_none() {
                SqliteStore::open_serving(&cli.db)
            } else {
                SqliteStore::open(&cli.db)
            };
            let store =
                store.with_context(|| format!("cannot open the database {}", cli.db.display()))?;
            tracing::info!(backend = "sqlite", database = %cli.db.display(), "storage ready");
            Ok(Arc::new(store))
        }
    }
}

/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    store: Arc<dyn Store>,
    clock: SharedClock,
    metrics_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let dns = DnsVerifier::new(config.dns_servers.clone());
    let issuer = config.issuer.clone();
    let connections = Connections::new(connection_limits(&config), config.clients.clone());
    let (router, state) = app::build(config, store, clock, dns).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks = background::spawn(state, stop_rx.clone());

    tracing::info!(issuer = %issuer, "listening on {}", listener.local_addr()?);
    if let Some(addr) = metrics_listen {
        let Some(handle) = auth4agent_server::metrics::install() else {
            anyhow::bail!("a metrics recorder is already installed");
        };
        let metrics_listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
        tracing::info!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        let mut metrics_stop = stop_rx.clone();
        tokio::spawn(auth4agent_server::metrics::serve(
            metrics_listener,
            handle,
            async move {
                let _ = metrics_stop.wait_for(|stop| *stop).await;
            },
        ));
    }
    let mut server_stop = stop_rx;
    let server = listener::serve(
        listener,
        router,
        HEADER_READ_TIMEOUT,
        connections,
        async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        },
    );
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    server.await;
    signals.abort();
    let _ = tasks.await;
    tracing::info!("stopped");
    Ok(())
}

/// Descriptors kept back from the connection cap: the database, DNS sockets, the log.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The connection limits, with the cap lowered to what the open-file limit allows, so the accept loop
/// never runs out of descriptors (the soft limit is first raised to the hard one, as most servers do).
fn connection_limits(config: &Config) -> ConnectionLimits {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            u64::MAX
        }
    };
    let by_files =
        usize::try_from(files.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(usize::MAX);
    let max_connections = match config.max_connections {
        0 => by_files,
        configured => configured.min(by_files),
    };
    if max_connections < config.max_connections {
        tracing::warn!(
            open_file_limit = files,
            max_connections,
            "the open-file limit lowers --max-connections; raise LimitNOFILE to allow more"
        );
    }
    ConnectionLimits {
        idle_timeout: config.idle_timeout,
        max_connections,
        max_per_client: config.max_connections_per_client,
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
