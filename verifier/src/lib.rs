//! `auth4agent-verifier`: what a service needs to accept auth4agent access tokens, done once.
//!
//! - [`TokenVerifier`]: verifies a token (through [`auth4agent_protocol::Verifier`]) against the issuer's key set,
//!   found from the issuer alone ([`TokenVerifier::discover`], RFC 8414 with the mix-up check) and kept by a
//!   [`RemoteKeySet`] (`max-age`, `ETag`, one refetch per cooldown on an unknown `kid`, stale-if-error), with a
//!   bounded cache of tokens already verified, and checks the token's Token Status List entry ([`StatusLists`]:
//!   a suspended or revoked agent's tokens are refused within the list's `ttl`).
//! - [`middleware`]: a tower [`Layer`](tower::Layer) for axum ([`middleware::BearerAuth`]), the
//!   [`middleware::AgentToken`] extractor, per-route scopes, RFC 6750 errors, and the RFC 9728 protected resource
//!   metadata; per-route DPoP (RFC 9449, [`middleware::BearerAuth::require_dpop`], [`DpopOptions`]) with a bounded
//!   in-memory replay cache.
//!
//! ```no_run
//! use auth4agent_verifier::TokenVerifier;
//! use auth4agent_verifier::middleware::{AgentToken, BearerAuth, ProtectedResource};
//! use axum::{Router, routing::get};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = TokenVerifier::discover("https://auth.example.com", "https://files.example.com").await?;
//! let resource = ProtectedResource::new("https://files.example.com", "https://auth.example.com");
//! let auth = BearerAuth::new(verifier, &resource);
//! let app: Router = Router::new()
//!     .route("/files", get(|token: AgentToken| async move { token.did().to_string() }))
//!     .layer(auth.require_scope("files:read"))
//!     .merge(resource.router());
//! # Ok(()) }
//! ```

mod cache;
mod clock;
mod dpop;
mod fetch;
mod keys;
pub mod middleware;
mod status;
mod verifier;

use std::sync::Arc;
use std::time::Duration;

pub use auth4agent_protocol::{Error as TokenError, UnixTime, VerifiedToken};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dpop::DpopOptions;
pub use fetch::{MAX_DOCUMENT_BYTES, checked_url};
pub use keys::{KeySetSnapshot, KeySetStatus, RemoteKeySet};
pub use status::{StatusLists, StatusPolicy};
pub use verifier::TokenVerifier;

/// Tuning of the key source and the cache; [`Config::default`] is what a service wants.
#[derive(Clone)]
pub struct Config {
    /// At most one refetch on an unknown `kid` per this (whole seconds). Default 30 s.
    pub refresh_cooldown: Duration,
    /// How long the last good key set is served while the issuer is unreachable. Default 24 h.
    pub stale_if_error: Duration,
    /// Freshness when the JWKS response has no `max-age`. Default 5 min.
    pub default_max_age: Duration,
    /// `max-age` is clamped to `min_max_age..=max_max_age`. Default 30 s..24 h.
    pub min_max_age: Duration,
    pub max_max_age: Duration,
    /// Connect timeout of a fetch. Default 5 s.
    pub connect_timeout: Duration,
    /// Total timeout of a fetch. Default 10 s.
    pub timeout: Duration,
    /// Most tokens in the verified-token cache (0 disables it). Default 10,000.
    pub cache_capacity: usize,
    /// Whether a token's Token Status List entry is checked (when it names one). Default true.
    pub check_status: bool,
    /// When a status list cannot be had. Default [`StatusPolicy::FailClosed`].
    pub status_policy: StatusPolicy,
    /// A status list's `ttl` is clamped to `min_status_ttl..=max_status_ttl`. Default 1 s..1 h.
    pub min_status_ttl: Duration,
    pub max_status_ttl: Duration,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            refresh_cooldown: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(24 * 3600),
            default_max_age: Duration::from_secs(300),
            min_max_age: Duration::from_secs(30),
            max_max_age: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            cache_capacity: 10_000,
            check_status: true,
            status_policy: StatusPolicy::FailClosed,
            min_status_ttl: Duration::from_secs(1),
            max_status_ttl: Duration::from_secs(3600),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("refresh_cooldown", &self.refresh_cooldown)
            .field("stale_if_error", &self.stale_if_error)
            .field("default_max_age", &self.default_max_age)
            .field("min_max_age", &self.min_max_age)
            .field("max_max_age", &self.max_max_age)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("cache_capacity", &self.cache_capacity)
            .field("check_status", &self.check_status)
            .field("status_policy", &self.status_policy)
            .finish_non_exhaustive()
    }
}

/// A document could not be fetched or used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("bad URL {0}")]
    BadUrl(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("unusable document: {0}")]
    BadDocument(String),
    #[error("metadata issuer {found:?} is not the issuer asked for {expected:?}")]
    IssuerMismatch { expected: String, found: String },
}

/// Why a token was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// The token is not valid (its protocol code says why: `expired`, `wrong_audience`, `bad_signature`…).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No key set could be had (never fetched, or the issuer unreachable beyond stale-if-error).
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The token's entry in the issuer's status list is 1 (invalid): its agent was revoked.
    #[error("the token is revoked (its status list entry is invalid)")]
    TokenRevoked,
    /// The token's entry is 2 (suspended): its agent is suspended, or its operator's domain proof lapsed.
    #[error("the token's agent is suspended (its status list entry is suspended)")]
    AgentSuspended,
    /// The entry holds a value this verifier does not know; never valid.
    #[error("the token's status list entry is {0}, not valid")]
    UnknownStatus(u8),
    /// The token's status list could not be fetched or verified, and the policy refuses.
    #[error("the token's status list is unavailable: {0}")]
    StatusUnavailable(String),
}

impl VerifyError {
    /// The auth4agent code: the protocol code, `keys_unavailable`, `token_revoked`, `agent_suspended` or
    /// `status_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Token(error) => error.code(),
            VerifyError::KeysUnavailable(_) => "keys_unavailable",
            VerifyError::TokenRevoked | VerifyError::UnknownStatus(_) => "token_revoked",
            VerifyError::AgentSuspended => "agent_suspended",
            VerifyError::StatusUnavailable(_) => "status_unavailable",
        }
    }
}
