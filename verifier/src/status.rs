//! [`StatusLists`]: the issuer's Token Status Lists (draft-ietf-oauth-status-list-20), fetched with the same
//! hygiene as the JWKS (https or loopback, no redirects, a size cap, timeouts), verified with the issuer's key set,
//! cached and refetched when the issuer publishes the next one: at `iat + ttl` (§13.7's option for up-to-date
//! answers), never later than `fetched + ttl`, never sooner than a second after the fetch. A token whose entry is
//! not 0 is refused (`token_revoked`, `agent_suspended`); when a list cannot be had the policy decides
//! ([`StatusPolicy`]): refuse (the default) or use the last good list for a bounded time, never past its `exp`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use auth4agent_protocol::{
    MAX_STATUS_LIST_TOKEN_LEN, STATUS_LIST_MEDIA_TYPE, StatusListRef, TokenStatus, UnixTime,
    VerifiedStatusList, verify_status_list,
};

use crate::fetch::{Fetched, Fetcher, checked_url};
use crate::{Config, FetchError, RemoteKeySet, VerifyError};

/// What to do when a token's status list cannot be fetched or verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPolicy {
    /// Refuse the token (`status_unavailable`, 503 from the middleware). The default.
    FailClosed,
    /// Decide with the last good list while it is at most this old (since it was fetched) and before its `exp`;
    /// refuse after.
    AcceptStale(Duration),
}

/// The issuer's status lists as a service sees them. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct StatusLists {
    inner: Arc<Inner>,
}

struct Inner {
    /// Lists are accepted only under the issuer: `<issuer>/`.
    prefix: String,
    keys: RemoteKeySet,
    fetcher: Fetcher,
    config: Config,
    lists: RwLock<HashMap<String, Cached>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

struct Cached {
    /// The last good list, if any.
    list: Option<Arc<VerifiedStatusList>>,
    last_success: UnixTime,
    /// Until when the list (or, after a failure, the decision to wait) stands: no fetch before.
    refresh_at: UnixTime,
    last_error: Option<String>,
}

impl std::fmt::Debug for StatusLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusLists")
            .field("issuer", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl StatusLists {
    /// The lists of `issuer`, verified with `keys`, fetched with `keys`' fetch settings.
    pub(crate) fn new(issuer: &str, keys: RemoteKeySet, fetcher: Fetcher) -> StatusLists {
        let config = keys.config().clone();
        StatusLists {
            inner: Arc::new(Inner {
                prefix: format!("{}/", issuer.trim_end_matches('/')),
                keys,
                fetcher,
                config,
                lists: RwLock::new(HashMap::new()),
                fetching: tokio::sync::Mutex::new(()),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// Seeds the cache with a list verified by the caller (with
    /// [`verify_status_list`](auth4agent_protocol::verify_status_list) against this issuer's keys), standing as a
    /// fetched one would (benchmarks, tests, or a service handed a list out of band); later refreshes fetch as usual.
    pub fn seed(&self, list: VerifiedStatusList, now: UnixTime) {
        let refresh_at = self.refresh_at(&list, now);
        self.inner.lists.write().expect("status list lock").insert(
            list.uri().to_owned(),
            Cached {
                list: Some(Arc::new(list)),
                last_success: now,
                refresh_at,
                last_error: None,
            },
        );
    }

    /// HTTP fetches made so far.
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The status of `entry` at `now`: `Ok(until)` when it is valid, with the time the decision stands until
    /// (the list's next refresh); `token_revoked` / `agent_suspended` when it is not; `status_unavailable` when
    /// no list may be used; the protocol's `status_index_out_of_range` past the list's end.
    pub async fn check(
        &self,
        entry: &StatusListRef,
        now: UnixTime,
    ) -> Result<UnixTime, VerifyError> {
        if let Some(decision) = self.cached(entry, now) {
            return decision;
        }
        let _guard = self.inner.fetching.lock().await;
        if let Some(decision) = self.cached(entry, now) {
            return decision;
        }
        match self.fetch(&entry.uri, now).await {
            Ok(list) => decide(&list, entry.idx, self.refresh_at(&list, now)),
            Err(error) => self.after_failure(entry, now, error),
        }
    }

    /// The decision from the cache while its list stands (or while a failure's wait lasts).
    fn cached(
        &self,
        entry: &StatusListRef,
        now: UnixTime,
    ) -> Option<Result<UnixTime, VerifyError>> {
        let lists = self.inner.lists.read().expect("status list lock");
        let cached = lists.get(&entry.uri)?;
        if now >= cached.refresh_at {
            return None;
        }
        match (&cached.list, &cached.last_error) {
            (Some(list), None) => Some(decide(list, entry.idx, cached.refresh_at)),
            // A recent failure: the policy answers without asking the issuer again.
            (_, Some(error)) => Some(self.stale(cached, entry, now, error)),
            (None, None) => None,
        }
    }

    fn after_failure(
        &self,
        entry: &StatusListRef,
        now: UnixTime,
        error: String,
    ) -> Result<UnixTime, VerifyError> {
        let mut lists = self.inner.lists.write().expect("status list lock");
        let cached = lists.entry(entry.uri.clone()).or_insert(Cached {
            list: None,
            last_success: now,
            refresh_at: now,
            last_error: None,
        });
        // Not on every request while the issuer is down: one cooldown.
        cached.refresh_at = now.saturating_add(self.inner.config.refresh_cooldown);
        cached.last_error = Some(error.clone());
        tracing::warn!(uri = %entry.uri, %error, "status list fetch failed");
        self.stale(cached, entry, now, &error)
    }

    fn stale(
        &self,
        cached: &Cached,
        entry: &StatusListRef,
        now: UnixTime,
        error: &str,
    ) -> Result<UnixTime, VerifyError> {
        let unavailable = || VerifyError::StatusUnavailable(format!("{}: {error}", entry.uri));
        let StatusPolicy::AcceptStale(bound) = self.inner.config.status_policy else {
            return Err(unavailable());
        };
        match &cached.list {
            Some(list)
                if now < cached.last_success.saturating_add(bound) && !list.is_expired(now) =>
            {
                // The stale decision stands only until the next attempt.
                decide(
                    list,
                    entry.idx,
                    cached.refresh_at.min(now.saturating_add(bound)),
                )
            }
            _ => Err(unavailable()),
        }
    }

    /// When to fetch a fresh copy of `list`, fetched at `now`: `iat + ttl` (the issuer's next list), at the
    /// latest `now + ttl` and `exp`, at the earliest one second from now; `ttl` clamped to the configured bounds.
    fn refresh_at(&self, list: &VerifiedStatusList, now: UnixTime) -> UnixTime {
        let config = &self.inner.config;
        let ttl = list
            .ttl()
            .clamp(config.min_status_ttl, config.max_status_ttl);
        let next = list.issued_at().saturating_add(ttl);
        next.min(now.saturating_add(ttl))
            .min(list.expires_at())
            .max(now.saturating_add(Duration::from_secs(1)))
    }

    /// Fetches and verifies the list at `uri` (under the issuer only), and caches it.
    async fn fetch(&self, uri: &str, now: UnixTime) -> Result<Arc<VerifiedStatusList>, String> {
        if !uri.starts_with(&self.inner.prefix) {
            return Err(format!(
                "the status list is not under the issuer {}",
                self.inner.prefix
            ));
        }
        let url = checked_url(uri).map_err(|e| e.to_string())?;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let body = match self
            .inner
            .fetcher
            .get_as(
                &url,
                None,
                STATUS_LIST_MEDIA_TYPE,
                MAX_STATUS_LIST_TOKEN_LEN,
            )
            .await
        {
            Ok(Fetched::Fresh { body, .. }) => body,
            Ok(Fetched::NotModified { .. }) => return Err("unexpected 304".into()),
            Err(e) => return Err(e.to_string()),
        };
        let text = String::from_utf8(body)
            .map_err(|_| FetchError::BadDocument("not UTF-8".into()).to_string())?;
        let keys = self
            .inner
            .keys
            .current(now)
            .await
            .map_err(|e| e.to_string())?;
        let list = Arc::new(
            verify_status_list(&text, &keys, uri, now).map_err(|e| format!("{}: {e}", e.code()))?,
        );
        let refresh_at = self.refresh_at(&list, now);
        self.inner.lists.write().expect("status list lock").insert(
            uri.to_owned(),
            Cached {
                list: Some(list.clone()),
                last_success: now,
                refresh_at,
                last_error: None,
            },
        );
        tracing::debug!(
            uri,
            refresh_at = refresh_at.as_secs(),
            "status list fetched"
        );
        Ok(list)
    }
}

/// The decision on entry `idx` of `list`, standing until `until` when valid.
fn decide(list: &VerifiedStatusList, idx: u64, until: UnixTime) -> Result<UnixTime, VerifyError> {
    match list.status(idx)? {
        TokenStatus::Valid => Ok(until),
        TokenStatus::Suspended => Err(VerifyError::AgentSuspended),
        TokenStatus::Invalid => Err(VerifyError::TokenRevoked),
        TokenStatus::Other(value) => Err(VerifyError::UnknownStatus(value)),
    }
}
