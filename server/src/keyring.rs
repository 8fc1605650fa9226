//! The server's signing key ring: Ed25519 keys persisted in the [`Store`], parsed once and held in
//! memory. Each key signs from its `activates_at` until the next key's activation retires it. A new
//! key is published in the JWKS from the moment it is added, ahead of its activation (publish-ahead),
//! so verifiers caching the JWKS know it before any token carries its kid; retired keys stay
//! published until `not_after`, when no token they signed can still be valid. Automatic rotation
//! ([`KeyRing::rotate_on_schedule`]) adds the next key when the current one reaches its interval.
//!
//! `kid` is the RFC 7638 thumbprint of the public key. Readers take a cheap snapshot
//! (`Arc`) so signing never waits on a rotation.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use auth4agent_protocol::{
    Error as ProtocolError, Jwks, KeyRefresh, KeySet, PublicKey, RefreshStep, SigningKey,
    VerifiedToken,
};

use crate::ids;
use crate::store::{SigningKeyRecord, Store, StoreError, UnixTime};

/// Why the key ring could not load, create or rotate keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {source}")]
    Key {
        kid: String,
        source: auth4agent_protocol::Error,
    },
    #[error("operating system RNG failed: {0}")]
    Rng(String),
    #[error("the store holds no active signing key")]
    NoActiveKey,
}

/// The key that signs new tokens.
#[derive(Debug)]
pub struct ActiveKey {
    kid: String,
    key: SigningKey,
}

impl ActiveKey {
    /// RFC 7638 thumbprint, the JWS header `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

#[derive(Debug, Clone)]
struct PublishedKey {
    kid: String,
    public: PublicKey,
    /// `None` for the newest key.
    not_after: Option<UnixTime>,
}

/// A key of the ring with the span during which it signs: `[activates_at, retired_at)`.
#[derive(Debug)]
struct SigningSlot {
    key: Arc<ActiveKey>,
    activates_at: UnixTime,
    retired_at: Option<UnixTime>,
}

impl SigningSlot {
    fn signs_at(&self, now: UnixTime) -> bool {
        self.activates_at <= now && self.retired_at.is_none_or(|t| t > now)
    }
}

#[derive(Debug)]
struct Snapshot {
    /// Every stored key, oldest first.
    slots: Vec<SigningSlot>,
    published: Vec<PublishedKey>,
    /// Every published key, built once: what [`KeyRing::key_set`] answers until the first
    /// retired key's `not_after` passes.
    all: Arc<KeySet>,
    earliest_not_after: Option<UnixTime>,
}

impl Snapshot {
    /// The newest key (the one not retired): the current key, or the next one while it is
    /// published ahead of its activation.
    fn newest(&self) -> &SigningSlot {
        // `load` refuses a ring without an unretired key.
        self.slots
            .iter()
            .rev()
            .find(|s| s.retired_at.is_none())
            .unwrap_or(&self.slots[self.slots.len() - 1])
    }

    /// The key that signs at `now`: the newest one whose signing span holds `now`. Should clocks
    /// or a hand-edited table leave no such key, the newest already activated, else the oldest.
    fn signer(&self, now: UnixTime) -> &Arc<ActiveKey> {
        let slot = self
            .slots
            .iter()
            .rev()
            .find(|s| s.signs_at(now))
            .or_else(|| self.slots.iter().rev().find(|s| s.activates_at <= now))
            .unwrap_or(&self.slots[0]);
        &slot.key
    }
}

/// A rotation scheduled by [`KeyRing::rotate`] or [`KeyRing::rotate_on_schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledKey {
    /// The new key's kid, published from now on.
    pub kid: String,
    /// When it starts signing, and the previous key retires.
    pub activates_at: UnixTime,
    /// When the previous key leaves the JWKS: `activates_at` + retention.
    pub previous_not_after: UnixTime,
}

/// Least time between two reloads caused by tokens carrying an unknown `kid`.
const UNKNOWN_KID_RELOAD_SPACING: Duration = Duration::from_secs(5);

/// The signing key ring. Share it as `Arc<KeyRing>`.
#[derive(Debug)]
pub struct KeyRing {
    store: Arc<dyn Store>,
    retention: u64,
    state: RwLock<Arc<Snapshot>>,
    /// When an unknown `kid` may cause a reload (see [`KeyRing::reload_for_unknown_kid`]).
    unknown_kid_reload: Mutex<KeyRefresh>,
}

impl KeyRing {
    /// Loads the keys from the store, creating and storing the first key if there is none.
    /// `retention` is how long a retired key stays published: the maximum token lifetime plus
    /// the verifiers' leeway.
    pub async fn load_or_init(
        store: Arc<dyn Store>,
        now: UnixTime,
        retention: u64,
    ) -> Result<KeyRing, KeyRingError> {
        let snapshot = match load(store.as_ref()).await {
            Ok(snapshot) => snapshot,
            Err(KeyRingError::NoActiveKey) => {
                let (record, _) = new_key(now, now)?;
                match store.insert_signing_key(record).await {
                    // Another replica created the first key at the same time: use theirs.
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                load(store.as_ref()).await?
            }
            Err(e) => return Err(e),
        };
        Ok(KeyRing {
            store,
            retention,
            state: RwLock::new(Arc::new(snapshot)),
            unknown_kid_reload: Mutex::new(KeyRefresh::with_cooldown(UNKNOWN_KID_RELOAD_SPACING)),
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.state.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        match self.state.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }

    /// The key that signs new tokens at `now`, with its kid: the newest key activated by `now`.
    pub fn active(&self, now: UnixTime) -> Arc<ActiveKey> {
        Arc::clone(self.snapshot().signer(now))
    }

    /// Keys a token may be verified with at `now`, and that the JWKS publishes: the current key, a
    /// next key published ahead of its activation, and retired keys whose `not_after > now`.
    pub fn key_set(&self, now: UnixTime) -> Arc<KeySet> {
        let snapshot = self.snapshot();
        if snapshot.earliest_not_after.is_none_or(|t| t > now) {
            return Arc::clone(&snapshot.all);
        }
        let live = snapshot
            .published
            .iter()
            .filter(|k| k.not_after.is_none_or(|t| t > now))
            .map(|k| (k.kid.clone(), k.public));
        // Kids are unique (primary key), so this cannot fail.
        Arc::new(KeySet::from_keys(live).unwrap_or_default())
    }

    /// The JWKS document for `now`.
    pub fn jwks(&self, now: UnixTime) -> Jwks {
        self.key_set(now).to_jwks()
    }

    /// The JWKS document for `now`, serialized.
    pub fn jwks_json(&self, now: UnixTime) -> String {
        serde_json::to_string(&self.jwks(now)).unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned())
    }

    /// Adds a new key, published from now on, that signs from `activates_at` on (`now` for an
    /// immediate switch); the key it replaces retires at that instant and stays published until
    /// `activates_at + retention`. A rotation still pending (published, not yet active) is superseded.
    pub async fn rotate(
        &self,
        now: UnixTime,
        activates_at: UnixTime,
    ) -> Result<ScheduledKey, KeyRingError> {
        let activates_at = activates_at.max(now);
        let (record, kid) = new_key(now, activates_at)?;
        let previous_not_after = activates_at.saturating_add(self.retention);
        self.store
            .rotate_signing_key(record, previous_not_after)
            .await?;
        self.reload().await?;
        Ok(ScheduledKey {
            kid,
            activates_at,
            previous_not_after,
        })
    }

    /// The automatic schedule (`--key-rotation-interval`): once the newest key has been active for
    /// `interval - publish_ahead`, adds the next key, activating `interval` after the newest one
    /// (and at least `publish_ahead` from now). Nothing while a next key is already pending.
    /// Race-free across replicas: the store adds the key only if the newest key is still the one
    /// this ring read, so of several replicas scheduling at once exactly one adds it. Returns the
    /// rotation this call scheduled, if any.
    pub async fn rotate_on_schedule(
        &self,
        now: UnixTime,
        interval: u64,
        publish_ahead: u64,
    ) -> Result<Option<ScheduledKey>, KeyRingError> {
        let snapshot = self.snapshot();
        let newest = snapshot.newest();
        let due = newest.activates_at.saturating_add(interval);
        if newest.activates_at > now || now.saturating_add(publish_ahead) < due {
            return Ok(None);
        }
        let activates_at = due.max(now.saturating_add(publish_ahead));
        let (record, kid) = new_key(now, activates_at)?;
        let previous_not_after = activates_at.saturating_add(self.retention);
        let added = self
            .store
            .rotate_signing_key_after(newest.key.kid(), record, previous_not_after)
            .await?;
        self.reload().await?;
        Ok(added.then_some(ScheduledKey {
            kid,
            activates_at,
            previous_not_after,
        }))
    }

    /// After `attempt`, a verification against [`Self::key_set`] at `now`: re-reads the keys when
    /// the token named a `kid` this ring does not hold, as another replica may have rotated since
    /// the last periodic reload. The protocol's [`KeyRefresh`] decides: at most one reload per
    /// verification and per `UNKNOWN_KID_RELOAD_SPACING`, so tokens with made-up kids cannot hammer
    /// the store. Returns whether it reloaded (then verify once more).
    pub async fn reload_for_unknown_kid(
        &self,
        attempt: &Result<VerifiedToken, ProtocolError>,
        now: UnixTime,
    ) -> bool {
        let step = match self.unknown_kid_reload.lock() {
            Ok(mut policy) => policy.after(attempt, auth4agent_protocol::UnixTime::from_secs(now)),
            Err(poisoned) => poisoned
                .into_inner()
                .after(attempt, auth4agent_protocol::UnixTime::from_secs(now)),
        };
        if step != RefreshStep::RefreshAndRetry {
            return false;
        }
        match self.reload().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "reloading the signing keys for an unknown kid failed");
                false
            }
        }
    }

    /// Re-reads the keys from the store (e.g. after another replica rotated).
    pub async fn reload(&self) -> Result<(), KeyRingError> {
        let snapshot = load(self.store.as_ref()).await?;
        self.replace(snapshot);
        Ok(())
    }
}

fn new_key(
    now: UnixTime,
    activates_at: UnixTime,
) -> Result<(SigningKeyRecord, String), KeyRingError> {
    let seed = ids::signing_seed().map_err(|e| KeyRingError::Rng(e.to_string()))?;
    let key = SigningKey::from_seed(&seed);
    let kid = key.public_key().thumbprint();
    let pkcs8_pem = key.to_pkcs8_pem().map_err(|source| KeyRingError::Key {
        kid: kid.clone(),
        source,
    })?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        pkcs8_pem,
        created_at: now,
        activates_at,
        retired_at: None,
        not_after: None,
    };
    Ok((record, kid))
}

async fn load(store: &dyn Store) -> Result<Snapshot, KeyRingError> {
    let records = store.load_signing_keys().await?;
    let mut slots = Vec::with_capacity(records.len());
    let mut published = Vec::with_capacity(records.len());
    for record in records {
        let key =
            SigningKey::from_pkcs8_pem(&record.pkcs8_pem).map_err(|source| KeyRingError::Key {
                kid: record.kid.clone(),
                source,
            })?;
        let public = key.public_key();
        if public.thumbprint() != record.kid {
            return Err(KeyRingError::Store(StoreError::Corrupt(format!(
                "signing key {} does not match its kid",
                record.kid
            ))));
        }
        published.push(PublishedKey {
            kid: record.kid.clone(),
            public,
            not_after: record.retired_at.map(|_| record.not_after.unwrap_or(0)),
        });
        slots.push(SigningSlot {
            key: Arc::new(ActiveKey {
                kid: record.kid,
                key,
            }),
            activates_at: record.activates_at,
            retired_at: record.retired_at,
        });
    }
    if !slots.iter().any(|s| s.retired_at.is_none()) {
        return Err(KeyRingError::NoActiveKey);
    }
    let all = KeySet::from_keys(published.iter().map(|k| (k.kid.clone(), k.public))).map_err(
        |source| KeyRingError::Key {
            kid: published[0].kid.clone(),
            source,
        },
    )?;
    let earliest_not_after = published.iter().filter_map(|k| k.not_after).min();
    Ok(Snapshot {
        slots,
        published,
        all: Arc::new(all),
        earliest_not_after,
    })
}
