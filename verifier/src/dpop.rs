//! DPoP for services (RFC 9449 §7): the options of [`BearerAuth::require_dpop`](crate::middleware::BearerAuth) and
//! the bounded in-memory replay cache of proof `jti`s.
//!
//! A request to a DPoP route carries `Authorization: DPoP <token>` and one `DPoP` proof header. The proof is
//! verified by the protocol crate ([`auth4agent_protocol::verify_dpop_proof`]) for the request's method and its
//! public URL (the configured origin + the request path), with `ath` the hash of the token; its key's thumbprint
//! must be the token's `cnf.jkt`; its `(jkt, jti)` is accepted once while the proof is acceptable at all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use auth4agent_protocol::{
    DPOP_MAX_AGE, DpopRules, Error as ProtocolError, UnixTime, VerifiedToken, verify_dpop_proof,
};

/// How DPoP proofs are checked; [`DpopOptions::default`] is RFC 9449's usual window.
#[derive(Debug, Clone)]
pub struct DpopOptions {
    /// The service's public origin (`https://files.example.com`), with which `htu` is built from the request
    /// path. `None`: the origin of the [`ProtectedResource`](crate::middleware::ProtectedResource)'s resource.
    pub public_origin: Option<String>,
    /// A proof's `iat` at most this far in the past. Default 60 s.
    pub max_age: Duration,
    /// A proof's `iat` at most this far in the future (clock skew). Default 5 s.
    pub leeway: Duration,
    /// Most proofs remembered at once. Default 100,000. When it is full of proofs still acceptable, new proofs
    /// are refused (`dpop_replay_cache_full`) rather than forgetting one that could then be replayed.
    pub replay_capacity: usize,
}

impl Default for DpopOptions {
    fn default() -> DpopOptions {
        DpopOptions {
            public_origin: None,
            max_age: DPOP_MAX_AGE,
            leeway: Duration::from_secs(5),
            replay_capacity: 100_000,
        }
    }
}

/// Why a proof was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ProofError {
    /// A protocol refusal (`bad_signature`, `htu_mismatch`, `dpop_key_mismatch`, `replayed`…).
    #[error(transparent)]
    Refused(#[from] ProtocolError),
    /// No or several `DPoP` headers, or one that is not ASCII.
    #[error("{0}")]
    Header(&'static str),
    /// The replay cache is full of proofs that are still acceptable.
    #[error("too many recent DPoP proofs to remember another; retry shortly")]
    CacheFull,
}

impl ProofError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ProofError::Refused(e) => e.code(),
            ProofError::Header(_) => "invalid_dpop_proof",
            ProofError::CacheFull => "dpop_replay_cache_full",
        }
    }
}

/// The checks of one layer: options, the public origin, and the replay cache shared by its clones.
#[derive(Debug)]
pub(crate) struct DpopCheck {
    origin: String,
    max_age: Duration,
    leeway: Duration,
    replays: ReplayCache,
}

impl DpopCheck {
    pub(crate) fn new(options: &DpopOptions, default_origin: &str) -> DpopCheck {
        let origin = options
            .public_origin
            .as_deref()
            .unwrap_or(default_origin)
            .trim_end_matches('/')
            .to_owned();
        DpopCheck {
            origin,
            max_age: options.max_age,
            leeway: options.leeway,
            replays: ReplayCache::new(options.replay_capacity),
        }
    }

    /// Verifies `proof` for `method path` with `token` (already verified as `verified`), at `now`.
    pub(crate) fn check(
        &self,
        proof: &str,
        method: &str,
        path: &str,
        token: &str,
        verified: &VerifiedToken,
        now: UnixTime,
    ) -> Result<(), ProofError> {
        let url = format!("{}{path}", self.origin);
        let rules = DpopRules {
            method,
            url: &url,
            now,
            max_age: self.max_age,
            leeway: self.leeway,
            access_token: Some(token),
            nonce: None,
        };
        let proof = verify_dpop_proof(proof, &rules)?;
        proof.require_jkt(verified.thumbprint())?;
        self.replays
            .consume(proof.jkt(), proof.jti(), proof.replay_until(), now)
    }
}

/// `(jkt, jti)` pairs seen, each until the time after which its proof is refused as too old anyway. Bounded: at
/// most `capacity` entries; expired ones are dropped when it fills (at most once a second).
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    until: HashMap<String, UnixTime>,
    last_purge: UnixTime,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Records `(jkt, jti)` until `until`; `replayed` if it is recorded and not yet past.
    pub(crate) fn consume(
        &self,
        jkt: &str,
        jti: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<(), ProofError> {
        // A thumbprint is base64url (no space), so the key is unambiguous.
        let key = format!("{jkt} {jti}");
        let mut seen = self.inner.lock().expect("replay cache lock");
        if let Some(recorded) = seen.until.get(&key)
            && *recorded >= now
        {
            return Err(ProtocolError::Replayed.into());
        }
        if seen.until.len() >= self.capacity && !seen.until.contains_key(&key) {
            if seen.last_purge < now {
                seen.until.retain(|_, until| *until >= now);
                seen.last_purge = now;
            }
            if seen.until.len() >= self.capacity {
                return Err(ProofError::CacheFull);
            }
        }
        seen.until.insert(key, until);
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_800_000_000;

    #[test]
    fn a_proof_is_good_once_within_its_window_and_the_cache_stays_bounded() {
        let cache = ReplayCache::new(2);
        let at = UnixTime::from_secs;
        cache.consume("k", "a", at(T + 60), at(T)).unwrap();
        assert_eq!(
            cache
                .consume("k", "a", at(T + 60), at(T + 60))
                .unwrap_err()
                .code(),
            "replayed"
        );
        cache.consume("other", "a", at(T + 60), at(T)).unwrap();
        // Full of live entries: refused, nothing forgotten.
        assert_eq!(
            cache
                .consume("k", "b", at(T + 60), at(T))
                .unwrap_err()
                .code(),
            "dpop_replay_cache_full"
        );
        assert_eq!(cache.len(), 2);
        // Once they expired, they make room.
        cache.consume("k", "b", at(T + 120), at(T + 61)).unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn concurrent_uses_of_one_proof_succeed_once() {
        let cache = std::sync::Arc::new(ReplayCache::new(1000));
        let now = UnixTime::from_secs(T);
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let cache = cache.clone();
                    s.spawn(move || {
                        usize::from(
                            cache
                                .consume("k", "j", UnixTime::from_secs(T + 60), now)
                                .is_ok(),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }
}
