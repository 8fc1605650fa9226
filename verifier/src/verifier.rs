//! [`TokenVerifier`]: the protocol's verifier, a [`RemoteKeySet`] and the verified-token cache, together.

use std::sync::Arc;

use auth4agent_protocol::{UnixTime, VerifiedToken, Verifier};

use crate::cache::TokenCache;
use crate::fetch::{Fetched, Fetcher, checked_url};
use crate::{Config, FetchError, RemoteKeySet, StatusLists, VerifyError};

/// RFC 8414's well-known path.
const AS_METADATA: &str = "/.well-known/oauth-authorization-server";

/// Verifies access tokens for one service (one issuer, one audience). Cheap to clone; clones share the key set
/// and the cache.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    keys: RemoteKeySet,
    /// `None` when the key set's configuration turns status checks off.
    status: Option<StatusLists>,
    cache: TokenCache,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("verifier", &self.inner.verifier)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// From the issuer alone, with [`Config::default`]: see [`Self::discover_with`].
    pub async fn discover(issuer: &str, audience: &str) -> Result<TokenVerifier, FetchError> {
        TokenVerifier::discover_with(issuer, audience, Config::default()).await
    }

    /// Reads `<issuer>/.well-known/oauth-authorization-server` (RFC 8414), checks that its `issuer` is exactly
    /// `issuer` (the mix-up defence: RFC 8414 §3.3), and keeps the key set at its `jwks_uri`. Tokens must be from
    /// `issuer` and for `audience`.
    pub async fn discover_with(
        issuer: &str,
        audience: &str,
        config: Config,
    ) -> Result<TokenVerifier, FetchError> {
        let fetcher = Fetcher::new(config.connect_timeout, config.timeout)?;
        let metadata_url = checked_url(&format!("{}{AS_METADATA}", issuer.trim_end_matches('/')))?;
        let Fetched::Fresh { body, .. } = fetcher.get(&metadata_url, None).await? else {
            return Err(FetchError::BadDocument("unexpected 304".into()));
        };
        #[derive(serde::Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|e| FetchError::BadDocument(format!("authorization server metadata: {e}")))?;
        if metadata.issuer != issuer {
            return Err(FetchError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        let jwks_uri = checked_url(&metadata.jwks_uri)?;
        tracing::info!(issuer, jwks_uri = %jwks_uri, "discovered the issuer's key set");
        let capacity = config.cache_capacity;
        let keys = RemoteKeySet::with_fetcher(jwks_uri, fetcher, config);
        Ok(TokenVerifier::from_parts(
            Verifier::new(issuer, audience),
            keys,
            capacity,
        ))
    }

    /// From a configured protocol verifier and key source, with a cache of `cache_capacity` tokens. Status lists
    /// (when the key set's [`Config::check_status`] is on) are fetched with the key set's settings and accepted
    /// only under the verifier's issuer.
    pub fn from_parts(
        verifier: Verifier,
        keys: RemoteKeySet,
        cache_capacity: usize,
    ) -> TokenVerifier {
        let status = keys
            .config()
            .check_status
            .then(|| StatusLists::new(verifier.issuer(), keys.clone(), keys.fetcher().clone()));
        TokenVerifier {
            inner: Arc::new(Inner {
                verifier,
                keys,
                status,
                cache: TokenCache::new(cache_capacity),
            }),
        }
    }

    /// The status lists (`None` when status checks are off).
    pub fn status_lists(&self) -> Option<&StatusLists> {
        self.inner.status.as_ref()
    }

    /// The key source (for its [`status`](RemoteKeySet::status)).
    pub fn keys(&self) -> &RemoteKeySet {
        &self.inner.keys
    }

    /// Verifies `token` now: a cached verification of this exact token if there is one, else a full one
    /// (fetching keys as needed) followed, when the token names a status list entry, by the status check
    /// (fetching the list as needed). The result is cached until the token's `exp` or the list's next refresh,
    /// whichever comes first: a cached verification never outlives the status decision it includes.
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, VerifyError> {
        let now = self.inner.keys.clock().now();
        if let Some(hit) = self.cached_at(token, now) {
            return Ok(hit);
        }
        let generation = self.inner.keys.generation();
        let verified = Arc::new(
            self.inner
                .keys
                .verify(&self.inner.verifier, token, now)
                .await?,
        );
        let until = match (&self.inner.status, verified.status_list()) {
            (Some(status), Some(entry)) => status.check(entry, now).await?,
            _ => verified.expires_at(),
        };
        self.inner
            .cache
            .insert(token, verified.clone(), now, generation, until);
        Ok(verified)
    }

    /// Now, by the configured clock.
    pub(crate) fn now(&self) -> UnixTime {
        self.inner.keys.clock().now()
    }

    /// The cached verification of exactly `token`, if any (the fast path of [`Self::verify`]).
    pub fn cached(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        self.cached_at(token, self.inner.keys.clock().now())
    }

    fn cached_at(&self, token: &str, now: UnixTime) -> Option<Arc<VerifiedToken>> {
        self.inner
            .cache
            .get(token, now, self.inner.keys.generation())
    }
}
