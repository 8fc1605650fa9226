//! Command-line flags (each with an `AUTH4AGENT_*` environment equivalent), parsed once into a validated [`Config`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::client_addr::{ClientAddressing, ForwardedHeader, parse_trusted_proxy};

/// Largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `auth4agent-server`: the auth4agent daemon.
#[derive(Debug, Parser)]
#[command(name = "auth4agent-server", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// SQLite database file holding all state, including the signing keys.
    #[arg(
        long,
        env = "AUTH4AGENT_DB",
        default_value = "./auth4agent.db",
        global = true
    )]
    pub db: PathBuf,
    /// PostgreSQL database holding all state instead of the SQLite file, for several replicas:
    /// `postgres://user[:password]@host[:port]/dbname?sslmode=disable`. Takes precedence over --db.
    #[arg(
        long,
        env = "AUTH4AGENT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Most PostgreSQL connections this process keeps open (ignored with SQLite).
    #[arg(
        long,
        env = "AUTH4AGENT_DATABASE_MAX_CONNECTIONS",
        default_value_t = crate::store::postgres::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u16).range(1..),
        global = true
    )]
    pub database_max_connections: u16,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; without one the server runs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the token-signing key ring.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

/// `keys` actions.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key: published in the JWKS at once, it signs from --key-publish-ahead later
    /// on (the previous key retires then, and stays in the JWKS until its tokens expire). Prints the
    /// new kid.
    Rotate {
        /// Emergency switch: sign with the new key at once, without publishing it ahead. Verifiers
        /// holding a cached JWKS meet an unknown kid and must refetch.
        #[arg(long)]
        now: bool,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags of the server itself.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTH4AGENT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Issuer URL (token `iss`, proof `aud`, base of signed-request `htu`). Default: http://<listen>.
    #[arg(long, env = "AUTH4AGENT_ISSUER")]
    pub issuer: Option<String>,
    /// DNS server(s) for TXT verification, `ip` or `ip:port`; repeatable or comma-separated. Default: the system resolver.
    #[arg(long = "dns-server", env = "AUTH4AGENT_DNS_SERVER", value_delimiter = ',', value_parser = parse_dns_server)]
    pub dns_servers: Vec<SocketAddr>,
    /// Log format.
    #[arg(
        long,
        env = "AUTH4AGENT_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// How long a domain verification stays valid before it must be re-checked (e.g. 30d, 12h, 90m, 3600).
    #[arg(long, env = "AUTH4AGENT_VERIFICATION_LIFETIME", default_value = "30d", value_parser = parse_duration_secs)]
    pub verification_lifetime: u64,
    /// How often the background task looks for verifications that are due.
    #[arg(long, env = "AUTH4AGENT_REVERIFY_INTERVAL", default_value = "1h", value_parser = parse_duration_secs)]
    pub reverify_interval: u64,
    /// Largest token lifetime an agent may request, in seconds.
    #[arg(long, env = "AUTH4AGENT_TOKEN_MAX_TTL", default_value = "3600", value_parser = parse_duration_secs)]
    pub token_max_ttl: u64,
    /// Token lifetime when the proof asks for none, in seconds.
    #[arg(long, env = "AUTH4AGENT_TOKEN_DEFAULT_TTL", default_value = "900", value_parser = parse_duration_secs)]
    pub token_default_ttl: u64,
    /// Requests per second per client IP on unauthenticated endpoints (0 disables). Enforced per server process.
    #[arg(long, env = "AUTH4AGENT_RATE_LIMIT", default_value_t = 20.0)]
    pub rate_limit: f64,
    /// Burst size of the per-client rate limit.
    #[arg(long, env = "AUTH4AGENT_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// How long audit events are kept before the background purge deletes them (e.g. 90d; 0 keeps
    /// every event). Each issued token adds one event of ~240 bytes.
    #[arg(long, env = "AUTH4AGENT_AUDIT_RETENTION", default_value = "90d", value_parser = parse_duration_secs)]
    pub audit_retention: u64,
    /// Per-request timeout (reading the body included).
    #[arg(long, env = "AUTH4AGENT_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration_secs)]
    pub request_timeout: u64,
    /// Close a connection that sends nothing for this long with no request in flight: from accept (a
    /// socket that never sends a byte) and between keep-alive requests.
    #[arg(long, env = "AUTH4AGENT_IDLE_TIMEOUT", default_value = "10s", value_parser = parse_duration_secs)]
    pub idle_timeout: u64,
    /// Open connections at most; also bounded by the open-file limit (less a reserve for the database and
    /// DNS). At the cap the longest-idle connection is closed to admit a new one. 0: the file limit only.
    #[arg(long, env = "AUTH4AGENT_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Open connections per client address at most (IPv6: per /64; 0 disables). Behind a reverse proxy every
    /// client shares the proxy's address: raise it or set 0 there.
    #[arg(
        long,
        env = "AUTH4AGENT_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 512
    )]
    pub max_connections_per_client: usize,
    /// Challenges one DID may have open (issued, not answered, not expired) at once, per server process;
    /// more are refused with `too_many_challenges` (0: no cap).
    #[arg(long, env = "AUTH4AGENT_MAX_CHALLENGES_PER_DID", default_value_t = 8)]
    pub max_challenges_per_did: usize,
    /// Pending (registered, never approved) agents an operator may have at once; registrations beyond it
    /// are refused with `too_many_pending_agents` (0: no cap).
    #[arg(long, env = "AUTH4AGENT_MAX_PENDING_AGENTS", default_value_t = 1000)]
    pub max_pending_agents: u64,
    /// Pending agents older than this are deleted by the background purge (0 keeps them).
    #[arg(long, env = "AUTH4AGENT_PENDING_AGENT_TTL", default_value = "7d", value_parser = parse_duration_secs)]
    pub pending_agent_ttl: u64,
    /// Agent registrations per second per operator, whatever the client (0 disables); burst 10× that.
    #[arg(
        long,
        env = "AUTH4AGENT_REGISTRATION_RATE_LIMIT",
        default_value_t = 10.0
    )]
    pub registration_rate_limit: f64,
    /// Serve Prometheus metrics (`GET /metrics`) on this separate address, e.g. 127.0.0.1:9464; keep it
    /// private. Without it no metrics are collected.
    #[arg(long, env = "AUTH4AGENT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Clients are counted per IPv4 prefix of this length (rate limits, connection caps).
    #[arg(long, env = "AUTH4AGENT_CLIENT_IPV4_PREFIX", default_value_t = 32, value_parser = clap::value_parser!(u8).range(0..=32))]
    pub client_ipv4_prefix: u8,
    /// Clients are counted per IPv6 prefix of this length: one host usually holds a whole /64.
    #[arg(long, env = "AUTH4AGENT_CLIENT_IPV6_PREFIX", default_value_t = 64, value_parser = clap::value_parser!(u8).range(0..=128))]
    pub client_ipv6_prefix: u8,
    /// Reverse proxies (CIDR or address, comma-separated) whose forwarding header names the client. Without
    /// it no forwarding header is ever read. The client is the right-most hop that is not a trusted proxy.
    #[arg(long = "trusted-proxy", env = "AUTH4AGENT_TRUSTED_PROXY", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,
    /// The header the trusted proxies write the client into.
    #[arg(
        long,
        env = "AUTH4AGENT_FORWARDED_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: ForwardedHeader,
    /// Lifetime of a device authorization request (RFC 8628 `expires_in`): how long the approver has.
    #[arg(long, env = "AUTH4AGENT_DEVICE_CODE_TTL", default_value = "10m", value_parser = parse_duration_secs)]
    pub device_code_ttl: u64,
    /// Entries of each new Token Status List (one per agent; 2 bits each, so a multiple of 4: whole
    /// bytes). A list's size is fixed when it starts: a new value applies from the next list on.
    #[arg(long, env = "AUTH4AGENT_STATUS_LIST_SIZE", default_value_t = DEFAULT_STATUS_LIST_SIZE)]
    pub status_list_size: u64,
    /// The status lists' `ttl`: how long a verifier caches one, and the most a served list lags the database.
    #[arg(long, env = "AUTH4AGENT_STATUS_LIST_TTL", default_value = "60s", value_parser = parse_duration_secs)]
    pub status_list_ttl: u64,
    /// How long a new signing key is published in the JWKS before it signs (`keys rotate` and
    /// --key-rotation-interval): at least the JWKS max-age (300 s) plus --key-reload-interval, so
    /// every replica publishes it and every verifier's cached JWKS holds it before any token carries it.
    #[arg(long, env = "AUTH4AGENT_KEY_PUBLISH_AHEAD", default_value = "6m", value_parser = parse_duration_secs, global = true)]
    pub key_publish_ahead: u64,
    /// Rotate the signing key automatically: each key signs for this long (e.g. 30d); the next one is
    /// added --key-publish-ahead before. Off by default (rotate with `keys rotate`).
    #[arg(long, env = "AUTH4AGENT_KEY_ROTATION_INTERVAL", value_parser = parse_duration_secs)]
    pub key_rotation_interval: Option<u64>,
    /// How often every running server re-reads the signing keys from the database (picking up a
    /// rotation made elsewhere).
    #[arg(long, env = "AUTH4AGENT_KEY_RELOAD_INTERVAL", default_value = "60s", value_parser = parse_duration_secs)]
    pub key_reload_interval: u64,
}

/// The JWKS `Cache-Control: max-age` (spec §14): the least useful publish-ahead.
pub const JWKS_MAX_AGE: u64 = 300;

/// Entries of a status list by default: 2^20, the size of the draft's test vectors (256 KiB uncompressed).
pub const DEFAULT_STATUS_LIST_SIZE: u64 = 1 << 20;

/// Largest `--status-list-size`: the protocol's decompression limit, in 2-bit entries.
pub const MAX_STATUS_LIST_SIZE: u64 = auth4agent_protocol::MAX_STATUS_LIST_BYTES as u64 * 4;

/// Largest `--status-list-ttl` (1 h): a list is relied upon for at most ttl + this after its window.
pub const MAX_STATUS_LIST_TTL: u64 = 3600;

/// Validated runtime configuration of the HTTP layer and background tasks.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Issuer URL without a trailing slash.
    pub issuer: String,
    pub dns_servers: Vec<SocketAddr>,
    pub verification_lifetime: u64,
    pub reverify_interval: Duration,
    pub purge_interval: Duration,
    /// Audit events older than this many seconds are purged; 0 keeps them all.
    pub audit_retention: u64,
    pub token_max_ttl: u64,
    pub token_default_ttl: u64,
    /// Lifetime of a token challenge: the protocol's longest (`MAX_CHALLENGE_TTL`).
    pub challenge_ttl: u64,
    /// Clock skew tolerated on signed requests and proofs: the protocol's `DEFAULT_LEEWAY`.
    pub leeway: u64,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Requests per second per client; `0` disables rate limiting.
    pub rate_limit: f64,
    pub rate_limit_burst: u32,
    pub idle_timeout: Duration,
    /// As given; `main` lowers it to what the open-file limit allows.
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// How clients are identified and grouped for rate limits and connection caps.
    pub clients: ClientAddressing,
    /// Open challenges per DID at most; 0: no cap.
    pub max_challenges_per_did: usize,
    /// Pending agents per operator at most; 0: no cap.
    pub max_pending_agents: u64,
    /// Seconds a pending agent is kept; 0: forever.
    pub pending_agent_ttl: u64,
    /// Agent registrations per second per operator; 0: not limited.
    pub registration_rate_limit: f64,
    /// Seconds a device authorization request waits for its approval.
    pub device_code_ttl: u64,
    /// Entries of each new status list.
    pub status_list_size: u64,
    /// The status lists' `ttl`, s.
    pub status_list_ttl: u64,
    /// Seconds a new signing key is published before it signs.
    pub key_publish_ahead: u64,
    /// Seconds each signing key signs before the automatic rotation replaces it; `None`: off.
    pub key_rotation_interval: Option<u64>,
    /// How often the key ring is re-read from the store.
    pub key_reload_interval: Duration,
}

impl Config {
    /// Defaults for an issuer, as the flags give them (used by tests and embedders).
    pub fn new(issuer: &str) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: issuer.trim_end_matches('/').to_owned(),
            dns_servers: Vec::new(),
            verification_lifetime: 30 * 86_400,
            reverify_interval: Duration::from_secs(3600),
            purge_interval: Duration::from_secs(60),
            audit_retention: 90 * 86_400,
            token_max_ttl: 3600,
            token_default_ttl: 900,
            challenge_ttl: auth4agent_protocol::MAX_CHALLENGE_TTL.as_secs(),
            leeway: auth4agent_protocol::DEFAULT_LEEWAY.as_secs(),
            max_body_bytes: MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(10),
            rate_limit: 20.0,
            rate_limit_burst: 100,
            idle_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_client: 512,
            clients: ClientAddressing::default(),
            max_challenges_per_did: 8,
            max_pending_agents: 1000,
            pending_agent_ttl: 7 * 86_400,
            registration_rate_limit: 10.0,
            device_code_ttl: 600,
            status_list_size: DEFAULT_STATUS_LIST_SIZE,
            status_list_ttl: 60,
            key_publish_ahead: 360,
            key_rotation_interval: None,
            key_reload_interval: Duration::from_secs(60),
        }
    }

    /// The limits the discovery document advertises: exactly those this server applies. A signed
    /// request's longest lifetime is the protocol verifier's own (`MAX_REQUEST_LIFETIME`).
    pub fn limits(&self) -> auth4agent_api::Limits {
        auth4agent_api::Limits {
            challenge_ttl: self.challenge_ttl,
            leeway: self.leeway,
            max_body_bytes: u64::try_from(self.max_body_bytes).unwrap_or(u64::MAX),
            rate_limit: self.rate_limit,
            rate_limit_burst: self.rate_limit_burst,
            request_max_age: auth4agent_protocol::MAX_REQUEST_LIFETIME.as_secs(),
            token_default_ttl: self.token_default_ttl,
            token_max_ttl: self.token_max_ttl,
        }
    }

    /// Validates the flags.
    pub fn from_args(args: &ServeArgs) -> Result<Config, String> {
        let issuer = match &args.issuer {
            Some(i) => {
                if !(i.starts_with("http://") || i.starts_with("https://")) {
                    return Err(format!("--issuer {i:?} must be an http:// or https:// URL"));
                }
                i.clone()
            }
            None => format!("http://{}", args.listen),
        };
        if args.token_max_ttl == 0 {
            return Err("--token-max-ttl must be positive".into());
        }
        if args.token_default_ttl == 0 || args.token_default_ttl > args.token_max_ttl {
            return Err("--token-default-ttl must be positive and at most --token-max-ttl".into());
        }
        if args.verification_lifetime == 0
            || args.reverify_interval == 0
            || args.request_timeout == 0
            || args.idle_timeout == 0
            || args.device_code_ttl == 0
        {
            return Err("durations must be positive".into());
        }
        if !(args.registration_rate_limit.is_finite() && args.registration_rate_limit >= 0.0) {
            return Err("--registration-rate-limit must be a non-negative number".into());
        }
        if !(args.rate_limit.is_finite() && args.rate_limit >= 0.0) {
            return Err("--rate-limit must be a non-negative number".into());
        }
        if args.rate_limit > 0.0 && args.rate_limit_burst == 0 {
            return Err("--rate-limit-burst must be at least 1".into());
        }
        if args.status_list_size == 0
            || args.status_list_size > MAX_STATUS_LIST_SIZE
            || !args.status_list_size.is_multiple_of(4)
        {
            return Err(format!(
                "--status-list-size must be a multiple of 4 (whole bytes of 2-bit entries) between 4 and \
                 {MAX_STATUS_LIST_SIZE}"
            ));
        }
        if args.status_list_ttl == 0 || args.status_list_ttl > MAX_STATUS_LIST_TTL {
            return Err(format!(
                "--status-list-ttl must be between 1 s and {MAX_STATUS_LIST_TTL} s"
            ));
        }
        if args.key_reload_interval == 0 {
            return Err("--key-reload-interval must be positive".into());
        }
        if let Some(interval) = args.key_rotation_interval
            && interval <= args.key_publish_ahead
        {
            return Err("--key-rotation-interval must be longer than --key-publish-ahead".into());
        }
        Ok(Config {
            listen: args.listen,
            dns_servers: args.dns_servers.clone(),
            verification_lifetime: args.verification_lifetime,
            reverify_interval: Duration::from_secs(args.reverify_interval),
            audit_retention: args.audit_retention,
            token_max_ttl: args.token_max_ttl,
            token_default_ttl: args.token_default_ttl,
            request_timeout: Duration::from_secs(args.request_timeout),
            rate_limit: args.rate_limit,
            rate_limit_burst: args.rate_limit_burst,
            idle_timeout: Duration::from_secs(args.idle_timeout),
            max_connections: args.max_connections,
            max_connections_per_client: args.max_connections_per_client,
            clients: ClientAddressing {
                ipv4_prefix: args.client_ipv4_prefix,
                ipv6_prefix: args.client_ipv6_prefix,
                trusted_proxies: args.trusted_proxies.clone(),
                forwarded_header: args.forwarded_header,
            },
            max_challenges_per_did: args.max_challenges_per_did,
            max_pending_agents: args.max_pending_agents,
            pending_agent_ttl: args.pending_agent_ttl,
            registration_rate_limit: args.registration_rate_limit,
            device_code_ttl: args.device_code_ttl,
            status_list_size: args.status_list_size,
            status_list_ttl: args.status_list_ttl,
            key_publish_ahead: args.key_publish_ahead,
            key_rotation_interval: args.key_rotation_interval,
            key_reload_interval: Duration::from_secs(args.key_reload_interval),
            ..Config::new(&issuer)
        })
    }
}

/// Parses `ip` (port 53) or `ip:port`.
fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{s:?} is not an IP address or IP:port"))
}

/// Parses a duration: plain seconds, or a number with suffix `s`, `m`, `h` or `d`.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 900, 15m, 1h, 30d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_the_protocol_verifiers() {
        let limits = Config::new("https://auth.example.com").limits();
        assert_eq!(
            limits.challenge_ttl,
            auth4agent_protocol::MAX_CHALLENGE_TTL.as_secs()
        );
        assert_eq!(limits.leeway, auth4agent_protocol::DEFAULT_LEEWAY.as_secs());
        assert_eq!(
            limits.request_max_age,
            auth4agent_protocol::MAX_REQUEST_LIFETIME.as_secs()
        );
        assert_eq!(limits.max_body_bytes, MAX_BODY_BYTES as u64);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("900"), Ok(900));
        assert_eq!(parse_duration_secs("15m"), Ok(900));
        assert_eq!(parse_duration_secs("30d"), Ok(30 * 86_400));
        assert!(parse_duration_secs("1w").is_err());
        assert!(parse_duration_secs("h").is_err());
    }

    #[test]
    fn dns_servers() {
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("127.0.0.1"),
            Ok("127.0.0.1:53".parse().unwrap())
        );
        assert!(parse_dns_server("example.com").is_err());
    }

    #[test]
    fn flags_and_defaults() {
        let cli = Cli::try_parse_from([
            "auth4agent-server",
            "--listen",
            "127.0.0.1:9000",
            "--dns-server",
            "127.0.0.1:5353,127.0.0.2",
        ])
        .unwrap();
        let cfg = Config::from_args(&cli.serve).unwrap();
        assert_eq!(cfg.issuer, "http://127.0.0.1:9000");
        assert_eq!(cfg.dns_servers.len(), 2);
        assert_eq!(cfg.token_max_ttl, 3600);
        assert_eq!(cfg.token_default_ttl, 900);
        assert_eq!(
            (cfg.status_list_size, cfg.status_list_ttl),
            (DEFAULT_STATUS_LIST_SIZE, 60)
        );
        for (size, ttl, ok) in [
            ("8", "30s", true),
            ("6", "60", false),
            ("0", "60", false),
            ("8", "0", false),
            ("8", "2h", false),
        ] {
            let cli = Cli::try_parse_from([
                "auth4agent-server",
                "--status-list-size",
                size,
                "--status-list-ttl",
                ttl,
            ])
            .unwrap();
            assert_eq!(Config::from_args(&cli.serve).is_ok(), ok, "{size} {ttl}");
        }
        let cli = Cli::try_parse_from(["auth4agent-server", "keys", "rotate", "--db", "/tmp/x.db"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Keys {
                action: KeysCommand::Rotate { now: false }
            })
        ));
        assert_eq!(cli.serve.key_publish_ahead, 360);
        assert_eq!(cli.db, PathBuf::from("/tmp/x.db"));
        assert_eq!(cli.database_url, None);
        let cli = Cli::try_parse_from([
            "auth4agent-server",
            "keys",
            "rotate",
            "--key-publish-ahead",
            "10m",
            "--now",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Keys {
                action: KeysCommand::Rotate { now: true }
            })
        ));
        assert_eq!(cli.serve.key_publish_ahead, 600);
        let cfg = Config::from_args(&cli.serve).unwrap();
        assert_eq!(
            (cfg.key_rotation_interval, cfg.key_reload_interval),
            (None, Duration::from_secs(60))
        );
        for (interval, ok) in [("30d", true), ("10m", false), ("5m", false)] {
            let cli = Cli::try_parse_from([
                "auth4agent-server",
                "--key-publish-ahead",
                "10m",
                "--key-rotation-interval",
                interval,
            ])
            .unwrap();
            assert_eq!(Config::from_args(&cli.serve).is_ok(), ok, "{interval}");
        }
        let cli = Cli::try_parse_from([
            "auth4agent-server",
            "keys",
            "rotate",
            "--database-url",
            "postgres://a4a@127.0.0.1:5432/a4a?sslmode=disable",
            "--database-max-connections",
            "4",
        ])
        .unwrap();
        assert_eq!(
            cli.database_url.as_deref(),
            Some("postgres://a4a@127.0.0.1:5432/a4a?sslmode=disable")
        );
        assert_eq!(cli.database_max_connections, 4);
        assert!(
            Cli::try_parse_from(["auth4agent-server", "--database-max-connections", "0"]).is_err()
        );
    }
}
