//! DIDs this process has seen registered, for `POST /v1/challenge` only. A challenge needs a registered
//! agent, but a challenge for a DID whose registration has since gone (a purged pending agent) is
//! harmless: `POST /v1/token` reads the agent afresh and refuses it. So once the challenge path has
//! found a DID in the store it skips the store for it, which on PostgreSQL is one round trip in three
//! per issuance. Bounded: when full it starts over.

use std::collections::HashSet;
use std::sync::Mutex;

/// Most DIDs remembered.
const CAPACITY: usize = 65_536;

#[derive(Debug, Default)]
pub struct KnownAgents {
    dids: Mutex<HashSet<String>>,
}

impl KnownAgents {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.dids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `did` was seen registered.
    pub fn contains(&self, did: &str) -> bool {
        self.lock().contains(did)
    }

    /// Remembers that `did` is registered.
    pub fn insert(&self, did: &str) {
        let mut dids = self.lock();
        if dids.len() >= CAPACITY {
            dids.clear();
        }
        dids.insert(did.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_stays_bounded() {
        let known = KnownAgents::default();
        assert!(!known.contains("did:agent:a.example:00"));
        known.insert("did:agent:a.example:00");
        assert!(known.contains("did:agent:a.example:00"));
        for i in 0..CAPACITY {
            known.insert(&format!("did:agent:b.example:{i}"));
        }
        assert!(known.lock().len() <= CAPACITY);
    }
}
