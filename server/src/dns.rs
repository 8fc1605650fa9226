//! DNS TXT domain verification: a [`DnsVerifier`] that asks the configured nameservers (or the
//! system's) for `_auth4agent.<domain>` and classifies the answer with the protocol matcher.
//!
//! Every check builds a fresh resolver with its cache disabled, so a record published a moment
//! ago (after a failed check, whose negative answer might otherwise be cached) is seen at once.

use std::net::SocketAddr;
use std::time::Duration;

use auth4agent_protocol::{Domain, TxtMatch, TxtRecord};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

/// Default per-query timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The result of one verification attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtVerification {
    /// A TXT record at the name equals the expected value.
    Verified,
    /// The name does not exist (NXDOMAIN) or has no TXT record (NOERROR, no data).
    NoRecord,
    /// TXT records exist but none matches; `found` holds their values (strings concatenated).
    WrongValue { found: Vec<String> },
    /// The lookup itself failed: timeout, SERVFAIL, REFUSED, unreachable server, bad config.
    LookupFailed(String),
}

/// Raw TXT answers: per record, its character-strings.
pub type TxtAnswers = Vec<Vec<Vec<u8>>>;

/// Looks up verification records against fixed nameservers or the system configuration.
#[derive(Debug, Clone)]
pub struct DnsVerifier {
    nameservers: Vec<SocketAddr>,
    timeout: Duration,
}

impl DnsVerifier {
    /// Uses `nameservers` (UDP, with TCP on truncation) or, when empty, the system configuration
    /// (`/etc/resolv.conf`).
    pub fn new(nameservers: Vec<SocketAddr>) -> Self {
        Self {
            nameservers,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Overrides the per-query timeout (one attempt is made).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The configured nameservers (empty: system configuration).
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.nameservers
    }

    /// Checks that `_auth4agent.<domain>` holds `auth4agent-verification=<token>`.
    pub async fn verify(&self, domain: &Domain, token: &str) -> TxtVerification {
        let expected = TxtRecord::new(domain, token);
        let (outcome, verification) = match self.lookup_txt(&expected.name).await {
            Ok(records) => match expected.matches(&records) {
                TxtMatch::Matched => ("verified", TxtVerification::Verified),
                TxtMatch::NoRecord => ("no_record", TxtVerification::NoRecord),
                TxtMatch::WrongValue { found } => {
                    ("wrong_value", TxtVerification::WrongValue { found })
                }
            },
            Err(message) => ("lookup_failed", TxtVerification::LookupFailed(message)),
        };
        crate::metrics::record_dns_check(outcome);
        verification
    }

    /// All TXT records at `name` (taken as fully qualified). No record → `Ok(empty)`;
    /// a failed lookup → `Err(message)`.
    pub async fn lookup_txt(&self, name: &str) -> Result<TxtAnswers, String> {
        let fqdn = if name.ends_with('.') {
            name.to_owned()
        } else {
            format!("{name}.")
        };
        let resolver = self.resolver()?;
        match resolver.lookup(fqdn.as_str(), RecordType::TXT).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(describe(&e)),
        }
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if self.nameservers.is_empty() {
            TokioResolver::builder(provider)
                .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?
        } else {
            let servers = self
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                provider,
            )
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = self.timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        builder
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))
    }
}

fn describe(e: &NetError) -> String {
    match e {
        NetError::Timeout => "DNS lookup timed out".to_owned(),
        other => format!("DNS lookup failed: {other}"),
    }
}
