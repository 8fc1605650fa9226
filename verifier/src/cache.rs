//! The verified-token cache: agents send the same token on every call for its whole lifetime, so a service
//! remembers the tokens it already verified.
//!
//! Keyed on the whole token: a hit compares every byte of it with the stored one (the hash only picks the
//! bucket). An entry never outlives the token's `exp`, nor the status decision it includes (its `until`: the
//! status list's next refresh), nor a key the issuer withdrew (the key set's generation). Bounded: when full, expired entries go first, then the ones expiring soonest. Sharded
//! `RwLock`s, so concurrent hits do not contend on one lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, RwLock};

use auth4agent_protocol::{UnixTime, VerifiedToken};

const SHARDS: usize = 16;

/// The hash input: the signature segment (the last 64 bytes), which differs between any two valid tokens and
/// is cheap to hash; equality is always checked on the whole token.
const HASHED_SUFFIX: usize = 64;

pub(crate) struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    hasher: RandomState,
}

#[derive(Default)]
struct Shard {
    /// By hash; a bucket holds the (rare) tokens whose hashes collide.
    map: HashMap<u64, Vec<Entry>, BuildIdentity>,
    len: usize,
}

struct Entry {
    token: Box<str>,
    verified: Arc<VerifiedToken>,
    generation: u64,
    /// No later than the token's `exp`.
    until: UnixTime,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0 disables it).
    pub(crate) fn new(capacity: usize) -> TokenCache {
        let per_shard = capacity.div_ceil(SHARDS);
        TokenCache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard,
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let suffix = &bytes[bytes.len().saturating_sub(HASHED_SUFFIX)..];
        let mut hasher = self.hasher.build_hasher();
        hasher.write(suffix);
        hasher.write_usize(bytes.len());
        hasher.finish()
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        &self.shards[(hash >> 59) as usize % SHARDS]
    }

    /// The verification of exactly `token`, if cached, still before its `exp` at `now`, and made with the key
    /// set's current `generation`.
    pub(crate) fn get(
        &self,
        token: &str,
        now: UnixTime,
        generation: u64,
    ) -> Option<Arc<VerifiedToken>> {
        if self.per_shard == 0 {
            return None;
        }
        let hash = self.hash(token);
        let shard = self.shard(hash).read().expect("cache lock");
        let entry = shard
            .map
            .get(&hash)?
            .iter()
            .find(|entry| *entry.token == *token)?;
        (now < entry.until && entry.generation == generation).then(|| entry.verified.clone())
    }

    /// Remembers a successful verification of `token` until `until` or its `exp`, whichever is first.
    pub(crate) fn insert(
        &self,
        token: &str,
        verified: Arc<VerifiedToken>,
        now: UnixTime,
        generation: u64,
        until: UnixTime,
    ) {
        let until = until.min(verified.expires_at());
        if self.per_shard == 0 || now >= until {
            return;
        }
        let hash = self.hash(token);
        let mut shard = self.shard(hash).write().expect("cache lock");
        if let Some(bucket) = shard.map.get_mut(&hash)
            && let Some(entry) = bucket.iter_mut().find(|e| *e.token == *token)
        {
            entry.verified = verified;
            entry.generation = generation;
            entry.until = until;
            return;
        }
        if shard.len >= self.per_shard {
            shard.evict(now, generation, self.per_shard);
        }
        if shard.len >= self.per_shard {
            return;
        }
        shard.map.entry(hash).or_default().push(Entry {
            token: token.into(),
            verified,
            generation,
            until,
        });
        shard.len += 1;
    }

    /// Tokens cached now (expired ones included until evicted).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().expect("cache lock").len)
            .sum()
    }
}

impl Shard {
    /// Drops expired and withdrawn-key entries; if none, the one expiring soonest.
    fn evict(&mut self, now: UnixTime, generation: u64, limit: usize) {
        let keep = |e: &Entry| now < e.until && e.generation == generation;
        for bucket in self.map.values_mut() {
            bucket.retain(keep);
        }
        self.map.retain(|_, bucket| !bucket.is_empty());
        self.len = self.map.values().map(Vec::len).sum();
        if self.len >= limit {
            let soonest = self
                .map
                .iter()
                .flat_map(|(hash, bucket)| {
                    bucket
                        .iter()
                        .enumerate()
                        .map(move |(i, e)| (e.until, *hash, i))
                })
                .min();
            if let Some((_, hash, i)) = soonest {
                let bucket = self.map.get_mut(&hash).expect("the bucket just found");
                bucket.swap_remove(i);
                if bucket.is_empty() {
                    self.map.remove(&hash);
                }
                self.len -= 1;
            }
        }
    }
}

/// The hash is already a keyed SipHash: the map uses it as is.
#[derive(Default, Clone, Copy)]
struct BuildIdentity;

impl BuildHasher for BuildIdentity {
    type Hasher = Identity;
    fn build_hasher(&self) -> Identity {
        Identity(0)
    }
}

#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use auth4agent_protocol::{
        AccessTokenClaims, Audience, Confirmation, KeySet, SigningKey, Verifier, issue_token,
    };

    use super::*;

    const T0: u64 = 1_800_000_000;

    fn verified(
        key: &SigningKey,
        keys: &KeySet,
        jti: usize,
        exp: u64,
    ) -> (String, Arc<VerifiedToken>) {
        let did = auth4agent_protocol::Did::from_key(
            &auth4agent_protocol::Domain::parse("agents.example.com").unwrap(),
            &SigningKey::from_seed(&[9; 32]).public_key(),
        )
        .to_string();
        let did = did.as_str();
        let claims = AccessTokenClaims {
            iss: "https://auth.example.com".into(),
            sub: did.into(),
            client_id: did.into(),
            aud: Audience::One("https://api.example.com".into()),
            scope: "read".into(),
            iat: T0,
            nbf: None,
            exp,
            jti: format!("tok_{jti}"),
            cnf: Confirmation { jkt: "j".into() },
            status: None,
        };
        let token = issue_token(key, &key.public_key().thumbprint(), &claims).unwrap();
        let verifier = Verifier::new("https://auth.example.com", "https://api.example.com");
        let ok = verifier
            .verify(&token, keys, UnixTime::from_secs(T0))
            .unwrap();
        (token, Arc::new(ok))
    }

    #[test]
    fn bounded_whole_token_and_never_past_exp() {
        let key = SigningKey::from_seed(&[5; 32]);
        let keys = KeySet::from_keys([(key.public_key().thumbprint(), key.public_key())]).unwrap();
        let now = UnixTime::from_secs(T0);
        let cache = TokenCache::new(32);
        let mut tokens = Vec::new();
        for i in 0..100 {
            let (token, ok) = verified(&key, &keys, i, T0 + 60 + i as u64);
            cache.insert(&token, ok.clone(), now, 0, UnixTime::from_secs(u64::MAX));
            tokens.push(token);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        // The most recent (latest exp) survive; a hit needs the same generation and a time before exp.
        let last = tokens.last().unwrap();
        assert!(cache.get(last, now, 0).is_some());
        assert!(
            cache.get(last, now, 1).is_none(),
            "a withdrawn key's verifications do not count"
        );
        assert!(
            cache
                .get(last, UnixTime::from_secs(T0 + 60 + 99), 0)
                .is_none(),
            "not at exp"
        );
        // Same signature segment, different payload: not a hit (the whole token is compared).
        let (head, sig) = last.rsplit_once('.').unwrap();
        let forged = format!("{}x.{sig}", head);
        assert!(cache.get(&forged, now, 0).is_none());
        // An expired token is never inserted; capacity 0 disables the cache.
        let (token, ok) = verified(&key, &keys, 1000, T0 + 1);
        cache.insert(
            &token,
            ok.clone(),
            UnixTime::from_secs(T0 + 1),
            0,
            UnixTime::from_secs(u64::MAX),
        );
        assert!(cache.get(&token, now, 0).is_none());
        let off = TokenCache::new(0);
        off.insert(&token, ok, now, 0, UnixTime::from_secs(u64::MAX));
        assert!(off.get(&token, now, 0).is_none());
    }
}
