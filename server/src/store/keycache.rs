//! Parsed public keys by their stored bytes, so decoding a row does not redo point decompression
//! and the canonical-encoding check (~10 µs) for a key it has seen before: PostgreSQL rows are
//! read afresh on every request, and so are SQLite rows outside the serving cache.
//!
//! Keyed by the raw bytes, not by DID or operator: the mapping is a pure function, so an entry can
//! never be stale, and one process-wide cache serves every store.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use auth4agent_protocol::PublicKey;

/// Most keys held; when full the cache starts over (cheap, bounded, no eviction bookkeeping).
const CAPACITY: usize = 16_384;

/// The cache [`parse`] uses.
static KEYS: LazyLock<KeyCache> = LazyLock::new(KeyCache::default);

/// [`PublicKey::from_bytes`] of stored bytes, through the process-wide cache.
pub(super) fn parse(bytes: &[u8]) -> auth4agent_protocol::Result<PublicKey> {
    KEYS.get(bytes)
}

/// A bounded cache of [`PublicKey::from_bytes`].
#[derive(Debug, Default)]
struct KeyCache {
    keys: Mutex<HashMap<[u8; 32], PublicKey>>,
}

impl KeyCache {
    /// The parsed key for `bytes`; invalid bytes are refused every time and never cached.
    fn get(&self, bytes: &[u8]) -> auth4agent_protocol::Result<PublicKey> {
        if let Some(key) = <&[u8; 32]>::try_from(bytes)
            .ok()
            .and_then(|raw| self.lock().get(raw).copied())
        {
            return Ok(key);
        }
        let key = PublicKey::from_bytes(bytes)?;
        let mut keys = self.lock();
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        keys.insert(*key.as_bytes(), key);
        Ok(key)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], PublicKey>> {
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth4agent_protocol::SigningKey;

    #[test]
    fn returns_the_key_it_parses_and_refuses_invalid_bytes() {
        let cache = KeyCache::default();
        let key = SigningKey::from_seed(&[7; 32]).public_key();
        let bytes = *key.as_bytes();
        assert_eq!(cache.get(&bytes).unwrap().as_bytes(), &bytes);
        assert_eq!(cache.get(&bytes).unwrap().as_bytes(), &bytes);
        assert_eq!(parse(&bytes).unwrap(), key);
        // The identity point (small order) is refused, every time, never cached.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(cache.get(&identity).is_err());
        assert!(cache.get(&identity).is_err());
        assert!(cache.get(&bytes[..31]).is_err(), "31 bytes");
    }
}
