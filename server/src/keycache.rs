//! Parsed public keys by their stored bytes, so a hot request does not redo point decompression
//! and the canonical-encoding check (~10 µs) for a key it has seen before.
//!
//! Keyed by the raw bytes, not by DID or operator: the mapping is a pure function, so an entry can
//! never be stale (a revoked agent is refused by its status, which is read fresh every request).

use std::collections::HashMap;
use std::sync::Mutex;

use auth4agent_protocol::PublicKey;

use crate::store::StoreError;

/// Most keys held; when full the cache starts over (cheap, bounded, no eviction bookkeeping).
const CAPACITY: usize = 16_384;

/// A bounded cache of [`PublicKey::from_bytes`] of stored bytes.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<[u8; 32], PublicKey>>,
}

impl KeyCache {
    /// The parsed key for stored bytes; an invalid stored key is corrupt data.
    pub fn get(&self, bytes: &[u8; 32]) -> Result<PublicKey, StoreError> {
        if let Some(key) = self.lock().get(bytes) {
            return Ok(*key);
        }
        let key = PublicKey::from_bytes(bytes)
            .map_err(|e| StoreError::Corrupt(format!("stored public key is invalid: {e}")))?;
        let mut keys = self.lock();
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        keys.insert(*bytes, key);
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], PublicKey>> {
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
        // The identity point (small order) is refused, every time, never cached.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(cache.get(&identity).is_err());
        assert!(cache.get(&identity).is_err());
    }
}
