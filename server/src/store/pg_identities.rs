//! The PostgreSQL store's per-replica copy of the agent and operator rows issuance reads, each with
//! the identity version (`identity_version`, bumped by a trigger on every change to either table) it
//! was read at. Other replicas change those rows behind this one's back, so a copy is never trusted
//! alone: the redemption that issues the token is written only if the version is unchanged, and a
//! Stale miss empties the copy (every entry predates the change). Bounded: when full it starts over.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Agent, Operator};

/// Most agents held.
const CAPACITY: usize = 16_384;

/// An agent, its operator, and the identity version they were read at.
pub(crate) type Entry = (Agent, Operator, i64);

#[derive(Debug, Default)]
pub(crate) struct VersionedIdentities {
    entries: Mutex<HashMap<String, Entry>>,
}

impl VersionedIdentities {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, did: &str) -> Option<Entry> {
        self.lock().get(did).cloned()
    }

    /// Keeps `entry` (an entry read at an older version than the database's now costs one Stale miss).
    pub(crate) fn put(&self, entry: Entry) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(entry.0.did.as_str().to_owned(), entry);
    }

    /// Forgets every entry: the version moved, so each one is out of date.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}
