//! Token buckets per key: per client (an address prefix, see [`crate::client_addr`]) for the
//! unauthenticated endpoints, per operator for agent registrations, and per operator (and for the whole
//! server) for failed user-code lookups, which is what guessing a device authorization's user code would take.
//!
//! The state lives in this process: with several replicas each enforces its own limit, so the effective
//! limit is per replica. Time comes from the caller (the `Clock`, in milliseconds) so tests control it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use crate::client_addr::ClientKey;

/// How long an idle bucket is kept before cleanup drops it, in milliseconds.
const IDLE_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

/// A token bucket per key (a client by default): `rate` tokens per second, at most `burst` stored.
#[derive(Debug)]
pub struct RateLimiter<K = ClientKey> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate == 0` disables limiting.
    pub fn new(rate: f64, burst: u32) -> RateLimiter<K> {
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has a token at `now_ms`, without taking it.
    pub fn has_token(&self, key: &K, now_ms: u64) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(key).is_none_or(|bucket| {
            let elapsed = now_ms.saturating_sub(bucket.updated_ms) as f64 / 1000.0;
            (bucket.tokens + elapsed * self.rate).min(self.burst) >= 1.0
        })
    }

    /// Takes one token for `key` at `now_ms`. `Err(secs)` tells how long to wait before a token is available.
    pub fn check(&self, key: K, now_ms: u64) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(bucket.updated_ms) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated_ms = bucket.updated_ms.max(now_ms);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Drops buckets idle long enough to be full again; called periodically by the background task.
    pub fn cleanup(&self, now_ms: u64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.retain(|_, b| now_ms.saturating_sub(b.updated_ms) < IDLE_MS);
    }

    /// Number of tracked clients.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Failed lookups of user codes, limited per client (an operator id, later a console session) and for
/// the whole server: a guesser gets at most `PER_CLIENT_BURST` misses, then one per 30 s, and all
/// guessers together one per second after a burst of 100. With 20^8 codes and a few pending at a time,
/// a guess succeeds with odds below 10^-8.
#[derive(Debug)]
pub struct LookupLimiter {
    per_client: RateLimiter<String>,
    global: RateLimiter<()>,
}

/// Seconds after which a client's spent lookup budget allows one more miss (its `Retry-After`).
pub const LOOKUP_REFILL_SECS: u64 = 30;

impl Default for LookupLimiter {
    fn default() -> Self {
        LookupLimiter {
            per_client: RateLimiter::new(1.0 / LOOKUP_REFILL_SECS as f64, 10),
            global: RateLimiter::new(1.0, 100),
        }
    }
}

impl LookupLimiter {
    /// Whether `client` may look a code up now.
    pub fn allows(&self, client: &str, now_ms: u64) -> bool {
        self.per_client.has_token(&client.to_owned(), now_ms) && self.global.has_token(&(), now_ms)
    }

    /// Counts a lookup of `client` that found nothing.
    pub fn failed(&self, client: &str, now_ms: u64) {
        let _ = self.per_client.check(client.to_owned(), now_ms);
        let _ = self.global.check((), now_ms);
    }

    /// Drops idle buckets.
    pub fn cleanup(&self, now_ms: u64) {
        self.per_client.cleanup(now_ms);
        self.global.cleanup(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_addr::ClientAddressing;

    fn key(ip: &str) -> ClientKey {
        ClientAddressing::default().key(ip.parse().unwrap())
    }

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(2.0, 3);
        let ip = key("127.0.0.1");
        let other = key("127.0.0.2");
        for _ in 0..3 {
            assert!(rl.check(ip, 1000).is_ok());
        }
        assert_eq!(rl.check(ip, 1000), Err(1));
        assert!(rl.check(other, 1000).is_ok(), "buckets are per client");
        assert!(
            rl.check(ip, 1500).is_ok(),
            "half a second refills one token at 2/s"
        );
        assert!(rl.check(ip, 1500).is_err());
        rl.cleanup(1500 + IDLE_MS);
        assert!(rl.is_empty());
    }

    #[test]
    fn zero_rate_disables() {
        let rl = RateLimiter::new(0.0, 1);
        let ip = key("::1");
        for _ in 0..100 {
            assert!(rl.check(ip, 0).is_ok());
        }
    }

    #[test]
    fn failed_lookups_are_limited_per_client_and_globally() {
        let limiter = LookupLimiter::default();
        for _ in 0..10 {
            assert!(limiter.allows("op_a", 0));
            limiter.failed("op_a", 0);
        }
        assert!(!limiter.allows("op_a", 0), "the eleventh miss waits");
        assert!(limiter.allows("op_b", 0), "another client is not affected");
        assert!(limiter.allows("op_a", 30_000), "one more after 30 s");
        for i in 0..100 {
            limiter.failed(&format!("op_{i}"), 0);
        }
        assert!(!limiter.allows("op_new", 0), "the global budget is spent");
    }
}
