//! The Token Status Lists this replica signed in the current window, kept until the window ends
//! (the rules that fill it are `service::status_lists`'). It lives beside the state, below the service
//! layer, like the other per-process caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::UnixTime;

/// A signed list and until when it stands.
#[derive(Debug, Clone)]
pub struct SignedList {
    pub token: Arc<str>,
    /// The end of its window: it is not served after this, and caches may keep it until then.
    pub fresh_until: UnixTime,
}

/// Lists this replica signed in the current window, by number.
#[derive(Debug, Default)]
pub struct StatusListCache {
    lists: Mutex<HashMap<u64, SignedList>>,
    /// One signing at a time: concurrent requests for a list not yet signed wait for the one signing.
    signing: tokio::sync::Mutex<()>,
}

impl StatusListCache {
    /// List `list` if this replica signed it in the window holding `now`.
    pub fn get(&self, list: u64, now: UnixTime) -> Option<SignedList> {
        let lists = self.lists.lock().expect("status list cache lock");
        lists
            .get(&list)
            .filter(|signed| now < signed.fresh_until)
            .cloned()
    }

    /// Keeps `signed` as list `list`, dropping lists whose window ended.
    pub fn put(&self, list: u64, signed: SignedList, now: UnixTime) {
        let mut lists = self.lists.lock().expect("status list cache lock");
        lists.retain(|_, s| now < s.fresh_until);
        lists.insert(list, signed);
    }

    /// The right to sign: held while one request signs, so that concurrent ones wait and reuse its list.
    pub async fn signing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.signing.lock().await
    }
}
