//! `auth4agent-verifier`: what a service needs to accept auth4agent access tokens, done once.
//!
//! - [`TokenVerifier`]: verifies a token (through [`auth4agent_protocol::Verifier`]) against the issuer's key set,
//!   found from the issuer alone ([`TokenVerifier::discover`], RFC 8414 with the mix-up check) and kept by a
//!   [`RemoteKeySet`] (`max-age`, `ETag`, one refetch per cooldown on an unknown `kid`, stale-if-error), with a
//!   bounded cache of tokens already verified.
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
mod verifier;

use std::sync::Arc;
use std::time::Duration;

pub use auth4agent_protocol::{Error as TokenError, UnixTime, VerifiedToken};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dpop::DpopOptions;
pub use fetch::{MAX_DOCUMENT_BYTES, checked_url};
pub use keys::{KeySetStatus, RemoteKeySet};
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
    #[error("response larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
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
}

impl VerifyError {
    /// The auth4agent code: the protocol code, or `keys_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Token(error) => error.code(),
            VerifyError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}
