//! [`RemoteKeySet`]: the issuer's JWKS, fetched over HTTP, cached for its `max-age`, revalidated with `ETag`,
//! refetched on an unknown `kid` at most once per cooldown (the protocol crate's [`KeyRefresh`]), and served stale
//! for a bounded time while the issuer is unreachable. A client that runs once (a CLI) keeps that cache between runs
//! as a [`KeySetSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use auth4agent_protocol::{KeyRefresh, KeySet, RefreshStep, UnixTime, VerifiedToken, Verifier};
use reqwest::Url;

use crate::fetch::{Fetched, Fetcher, checked_url};
use crate::{Clock, Config, FetchError, VerifyError};

/// The issuer's key set as a service sees it. Cheap to clone (clones share the cache); safe to share.
#[derive(Clone)]
pub struct RemoteKeySet {
    inner: Arc<Inner>,
}

struct Inner {
    url: Url,
    fetcher: Fetcher,
    config: Config,
    state: RwLock<State>,
    /// One fetch at a time: concurrent requests that find the set stale wait for the one fetch.
    fetching: tokio::sync::Mutex<()>,
    refresh: Mutex<KeyRefresh>,
    fetches: AtomicU64,
    /// Bumped whenever a fetched set no longer has a kid the previous one had: cached verifications made with
    /// a withdrawn key stop counting.
    generation: AtomicU64,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    etag: Option<String>,
    /// Until when the keys are fresh (`max-age` of the last successful fetch).
    fresh_until: UnixTime,
    /// After a failed fetch: no new attempt before this (one cooldown), so an unreachable issuer is not asked on
    /// every request.
    retry_at: Option<UnixTime>,
    last_success: Option<UnixTime>,
    last_error: Option<String>,
}

/// What [`RemoteKeySet::status`] reports, for a service's health endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeySetStatus {
    pub jwks_uri: String,
    /// Keys in the set served now (0 before the first successful fetch).
    pub keys: usize,
    /// When the set was last fetched or revalidated.
    pub last_success: Option<u64>,
    /// Until when it is fresh.
    pub fresh_until: u64,
    /// The last fetch failed and the set served is older than its `max-age` (stale-if-error).
    pub stale: bool,
    /// Past the stale-if-error bound (or never fetched): tokens cannot be verified.
    pub unavailable: bool,
    pub last_error: Option<String>,
    /// HTTP fetches made so far (including 304 revalidations).
    pub fetches: u64,
}

/// What a client that runs once keeps of a [`RemoteKeySet`]'s cache between runs, so that its next run follows the
/// same freshness, revalidation and stale-if-error rules as a long-running service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySetSnapshot {
    /// The key set, as a JWKS document.
    pub jwks: String,
    /// The `ETag` of the response it came from, for revalidation.
    pub etag: Option<String>,
    /// When it was last fetched or revalidated (Unix seconds): the start of the stale-if-error bound.
    pub fetched_at: u64,
    /// Until when it is fresh (Unix seconds): `fetched_at` + the response's `max-age`, clamped.
    pub fresh_until: u64,
}

impl std::fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeySet")
            .field("url", &self.inner.url.as_str())
            .finish_non_exhaustive()
    }
}

impl RemoteKeySet {
    /// A key set fetched from `jwks_uri` (https, or http on loopback) on first use.
    pub fn new(jwks_uri: &str, config: Config) -> Result<RemoteKeySet, FetchError> {
        let url = checked_url(jwks_uri)?;
        let fetcher = Fetcher::new(config.connect_timeout, config.timeout)?;
        Ok(RemoteKeySet::with_fetcher(url, fetcher, config))
    }

    pub(crate) fn with_fetcher(url: Url, fetcher: Fetcher, config: Config) -> RemoteKeySet {
        let refresh = KeyRefresh::with_cooldown(config.refresh_cooldown);
        RemoteKeySet {
            inner: Arc::new(Inner {
                url,
                fetcher,
                config,
                state: RwLock::new(State::default()),
                fetching: tokio::sync::Mutex::new(()),
                refresh: Mutex::new(refresh),
                fetches: AtomicU64::new(0),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// Seeds the cache with `keys`, fresh for the default `max-age` from now (tests, benchmarks, or a service that
    /// ships the issuer's keys); later refreshes fetch from the URL as usual.
    pub fn seed(&self, keys: KeySet) {
        let now = self.now();
        let mut state = self.inner.state.write().expect("key set lock");
        state.keys = Some(Arc::new(keys));
        state.fresh_until = now.saturating_add(self.inner.config.default_max_age);
        state.last_success = Some(now);
    }

    /// Restores a cache saved by [`Self::snapshot`]: the keys are fresh until its `fresh_until`, then refetched
    /// (revalidated with its `ETag`), and served stale within the stale-if-error bound from its `fetched_at`. A
    /// snapshot whose JWKS is unusable is refused and changes nothing.
    pub fn restore(&self, snapshot: &KeySetSnapshot) -> Result<(), FetchError> {
        let keys = parse_keys(snapshot.jwks.as_bytes())?;
        let mut state = self.inner.state.write().expect("key set lock");
        state.keys = Some(Arc::new(keys));
        state.etag = snapshot.etag.clone();
        state.fresh_until = UnixTime::from_secs(snapshot.fresh_until);
        state.last_success = Some(UnixTime::from_secs(snapshot.fetched_at));
        Ok(())
    }

    /// The cache as it stands (`None` before the first successful fetch), for [`Self::restore`] in a later run.
    pub fn snapshot(&self) -> Option<KeySetSnapshot> {
        let state = self.inner.state.read().expect("key set lock");
        let keys = state.keys.as_ref()?;
        Some(KeySetSnapshot {
            jwks: serde_json::to_string(&keys.to_jwks()).expect("a JWKS serializes"),
            etag: state.etag.clone(),
            fetched_at: state.last_success?.as_secs(),
            fresh_until: state.fresh_until.as_secs(),
        })
    }

    fn now(&self) -> UnixTime {
        self.inner.config.clock.now()
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.inner.config.clock
    }

    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The JWKS URL.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// Verifies `token` at `now` with the keys: fetches them when they are not fresh, and on an unknown `kid`
    /// refetches once, as [`KeyRefresh`] allows (at most once per cooldown across all verifications).
    pub async fn verify(
        &self,
        verifier: &Verifier,
        token: &str,
        now: UnixTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let mut keys = self.current(now).await?;
        loop {
            let result = verifier.verify(token, &keys, now);
            let step = self
                .inner
                .refresh
                .lock()
                .expect("refresh lock")
                .after(&result, now);
            match step {
                RefreshStep::Done => return result.map_err(VerifyError::Token),
                RefreshStep::RefreshAndRetry => {
                    tracing::info!(jwks_uri = %self.inner.url, "unknown kid: refetching the key set");
                    match self.fetch(now).await {
                        Ok(fresh) => keys = fresh,
                        Err(_) => return result.map_err(VerifyError::Token),
                    }
                }
            }
        }
    }

    /// The key set to verify with at `now`: the cached one while fresh, else a fetched one, else (fetch failed)
    /// the last good one within the stale-if-error bound.
    pub async fn current(&self, now: UnixTime) -> Result<Arc<KeySet>, VerifyError> {
        if let Some(keys) = self.fresh(now) {
            return Ok(keys);
        }
        let _guard = self.inner.fetching.lock().await;
        // Another task may have fetched while this one waited.
        if let Some(keys) = self.fresh(now) {
            return Ok(keys);
        }
        let backing_off = {
            let state = self.inner.state.read().expect("key set lock");
            state
                .retry_at
                .is_some_and(|at| now < at)
                .then(|| state.last_error.clone().unwrap_or_default())
        };
        if let Some(error) = backing_off {
            return self.stale_or(now, FetchError::Http(format!("{error} (retrying later)")));
        }
        match self.fetch_locked(now).await {
            Ok(keys) => Ok(keys),
            Err(error) => self.stale_or(now, error),
        }
    }

    fn fresh(&self, now: UnixTime) -> Option<Arc<KeySet>> {
        let state = self.inner.state.read().expect("key set lock");
        match &state.keys {
            Some(keys) if now < state.fresh_until => Some(keys.clone()),
            _ => None,
        }
    }

    fn stale_or(&self, now: UnixTime, error: FetchError) -> Result<Arc<KeySet>, VerifyError> {
        let state = self.inner.state.read().expect("key set lock");
        let within = state
            .last_success
            .is_some_and(|at| now < at.saturating_add(self.inner.config.stale_if_error));
        match &state.keys {
            Some(keys) if within => {
                tracing::warn!(
                    jwks_uri = %self.inner.url,
                    %error,
                    last_success = state.last_success.map(UnixTime::as_secs),
                    "the issuer's key set cannot be fetched: serving the last good one (stale-if-error)"
                );
                Ok(keys.clone())
            }
            _ => {
                tracing::error!(jwks_uri = %self.inner.url, %error, "no usable key set");
                Err(VerifyError::KeysUnavailable(error.to_string()))
            }
        }
    }

    /// Fetches now (one fetch at a time), whatever the freshness.
    async fn fetch(&self, now: UnixTime) -> Result<Arc<KeySet>, FetchError> {
        let _guard = self.inner.fetching.lock().await;
        self.fetch_locked(now).await
    }

    async fn fetch_locked(&self, now: UnixTime) -> Result<Arc<KeySet>, FetchError> {
        let etag = {
            let state = self.inner.state.read().expect("key set lock");
            state.keys.as_ref().and(state.etag.clone())
        };
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = self
            .inner
            .fetcher
            .get(&self.inner.url, etag.as_deref())
            .await;
        let config = &self.inner.config;
        let clamp = |max_age: Option<Duration>| {
            max_age
                .unwrap_or(config.default_max_age)
                .clamp(config.min_max_age, config.max_max_age)
        };
        let parsed = match outcome {
            Ok(Fetched::NotModified { max_age }) => {
                let mut state = self.inner.state.write().expect("key set lock");
                state.fresh_until = now.saturating_add(clamp(max_age));
                state.last_success = Some(now);
                state.last_error = None;
                state.retry_at = None;
                tracing::debug!(jwks_uri = %self.inner.url, "key set not modified");
                return Ok(state
                    .keys
                    .clone()
                    .expect("a 304 answers a request that had keys"));
            }
            Ok(Fetched::Fresh {
                body,
                etag,
                max_age,
            }) => parse_keys(&body).map(|keys| (keys, etag, max_age)),
            Err(error) => Err(error),
        };
        let mut state = self.inner.state.write().expect("key set lock");
        match parsed {
            Ok((keys, etag, max_age)) => {
                if let Some(old) = &state.keys {
                    let withdrawn = old.to_jwks().keys.iter().any(|jwk| {
                        jwk.kid
                            .as_deref()
                            .is_some_and(|kid| keys.get(kid).is_none())
                    });
                    if withdrawn {
                        self.inner.generation.fetch_add(1, Ordering::AcqRel);
                    }
                }
                let keys = Arc::new(keys);
                state.keys = Some(keys.clone());
                state.etag = etag;
                state.fresh_until = now.saturating_add(clamp(max_age));
                state.last_success = Some(now);
                state.last_error = None;
                state.retry_at = None;
                tracing::debug!(jwks_uri = %self.inner.url, keys = keys.len(), "key set fetched");
                Ok(keys)
            }
            Err(error) => {
                // Do not retry on every request while the issuer is down: wait one cooldown.
                state.retry_at = Some(now.saturating_add(config.refresh_cooldown));
                state.last_error = Some(error.to_string());
                tracing::warn!(jwks_uri = %self.inner.url, %error, "key set fetch failed");
                Err(error)
            }
        }
    }

    /// The state of the key set, for a health endpoint.
    pub fn status(&self) -> KeySetStatus {
        let now = self.now();
        let state = self.inner.state.read().expect("key set lock");
        let within = state
            .last_success
            .is_some_and(|at| now < at.saturating_add(self.inner.config.stale_if_error));
        let past_max_age = state.last_error.is_some();
        KeySetStatus {
            jwks_uri: self.inner.url.to_string(),
            keys: state.keys.as_ref().map_or(0, |k| k.len()),
            last_success: state.last_success.map(UnixTime::as_secs),
            fresh_until: state.fresh_until.as_secs(),
            stale: past_max_age && within,
            unavailable: state.keys.is_none() || !within,
            last_error: state.last_error.clone(),
            fetches: self.inner.fetches.load(Ordering::Relaxed),
        }
    }
}

fn parse_keys(body: &[u8]) -> Result<KeySet, FetchError> {
    let text =
        std::str::from_utf8(body).map_err(|_| FetchError::BadDocument("not UTF-8".into()))?;
    let keys = KeySet::from_json(text).map_err(|e| FetchError::BadDocument(e.to_string()))?;
    if keys.is_empty() {
        return Err(FetchError::BadDocument("no usable Ed25519 keys".into()));
    }
    Ok(keys)
}
