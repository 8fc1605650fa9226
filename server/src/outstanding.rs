//! Outstanding challenges per DID: issued, not yet answered, not yet expired. A cap on them keeps one
//! DID (or rotating clients asking for it) from filling the challenge table, which a per-client rate
//! limit cannot do once the clients rotate their addresses.
//!
//! Kept in this process, like the rate limits: a challenge answered through another replica stays
//! counted here until it expires, which errs on the side of refusing.

use std::collections::HashMap;
use std::sync::Mutex;

/// The challenges of each DID still open, with their expiry.
#[derive(Debug)]
pub struct OutstandingChallenges {
    cap: usize,
    open: Mutex<HashMap<String, Vec<(String, u64)>>>,
}

impl OutstandingChallenges {
    /// `cap == 0` disables the cap.
    pub fn new(cap: usize) -> OutstandingChallenges {
        OutstandingChallenges {
            cap,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Records challenge `id` for `did` unless `did` already has `cap` open at `now`; `false` if refused.
    pub fn admit(&self, did: &str, id: &str, expires_at: u64, now: u64) -> bool {
        if self.cap == 0 {
            return true;
        }
        let mut open = self.lock();
        let entry = open.entry(did.to_owned()).or_default();
        entry.retain(|(_, expires)| *expires > now);
        if entry.len() >= self.cap {
            return false;
        }
        entry.push((id.to_owned(), expires_at));
        true
    }

    /// Forgets challenge `id` of `did` (answered).
    pub fn answered(&self, did: &str, id: &str) {
        if self.cap == 0 {
            return;
        }
        let mut open = self.lock();
        if let Some(entry) = open.get_mut(did) {
            entry.retain(|(open_id, _)| open_id != id);
            if entry.is_empty() {
                open.remove(did);
            }
        }
    }

    /// Drops expired challenges and empty DIDs; called by the background pass.
    pub fn cleanup(&self, now: u64) {
        let mut open = self.lock();
        open.retain(|_, entry| {
            entry.retain(|(_, expires)| *expires > now);
            !entry.is_empty()
        });
    }

    /// DIDs with an open challenge.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(String, u64)>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_did_has_at_most_cap_open_challenges_until_one_is_answered_or_expires() {
        let caps = OutstandingChallenges::new(2);
        assert!(caps.admit("did:a", "c1", 160, 100));
        assert!(caps.admit("did:a", "c2", 170, 110));
        assert!(!caps.admit("did:a", "c3", 180, 120), "two open");
        assert!(caps.admit("did:b", "c4", 180, 120), "per DID");
        caps.answered("did:a", "c1");
        assert!(caps.admit("did:a", "c5", 190, 130));
        assert!(!caps.admit("did:a", "c6", 190, 130));
        assert!(caps.admit("did:a", "c7", 260, 200), "c2 and c5 expired");
        caps.cleanup(1000);
        assert!(caps.is_empty());
        assert!(
            OutstandingChallenges::new(0).admit("did:a", "x", 1, 2),
            "0 disables"
        );
    }
}
