//! `AppState`: what the service layer and the HTTP adapters share — configuration, store, clock,
//! DNS resolver, signing key ring, rate limiter and the verifier of this server's own tokens. No
//! HTTP here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth4agent_protocol::{CHALLENGE_SECRET_LEN, ChallengeSecret, Verifier};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::dns::DnsVerifier;
use crate::ids;
use crate::keyring::{KeyRing, KeyRingError};
use crate::known_agents::KnownAgents;
use crate::outstanding::OutstandingChallenges;
use crate::ratelimit::{LookupLimiter, RateLimiter};
use crate::status_list_cache::StatusListCache;
use crate::store::{Store, StoreError};

/// Everything a handler needs. One reference count to clone: the middleware and every handler
/// take their own copy per request.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The state behind [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub dns: Arc<DnsVerifier>,
    pub keyring: Arc<KeyRing>,
    pub limiter: Arc<RateLimiter>,
    /// Challenges issued and not yet answered, per DID (`--max-challenges-per-did`).
    pub outstanding: Arc<OutstandingChallenges>,
    /// Agent registrations per operator, whatever the client.
    pub registrations: Arc<RateLimiter<String>>,
    /// Failed user-code lookups (device authorization approvals).
    pub user_code_lookups: Arc<LookupLimiter>,
    /// Verifies this server's own tokens: its issuer, any audience, its maximum lifetime, no leeway.
    pub own_tokens: Verifier,
    /// DIDs seen registered, so the challenge path reads the store once per DID.
    pub known_agents: KnownAgents,
    /// Mints and opens stateless challenge ids (one secret for every replica, from the store).
    pub challenges: ChallengeSecret,
    /// The status lists this replica signed in the current window.
    pub status_lists: StatusListCache,
    /// Monotonic origin for the rate limiter.
    started: Instant,
}

impl AppState {
    /// Loads (or creates on first start) the signing key ring and assembles the state.
    pub async fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: SharedClock,
        dns: DnsVerifier,
    ) -> Result<AppState, KeyRingError> {
        // A retired key stays published until every token it signed has expired.
        let retention = config.token_max_ttl + config.leeway;
        let keyring = KeyRing::load_or_init(Arc::clone(&store), clock.now(), retention).await?;
        let challenges = challenge_secret(store.as_ref()).await?;
        let limiter = RateLimiter::new(config.rate_limit, config.rate_limit_burst);
        let burst = (config.registration_rate_limit * 10.0)
            .ceil()
            .clamp(1.0, 1e6) as u32;
        let registrations = RateLimiter::new(config.registration_rate_limit, burst);
        let outstanding = OutstandingChallenges::new(config.max_challenges_per_did);
        // Leeway absorbs skew between two clocks; the clock that judges here is the one that issued.
        // Introspection and revocation answer for tokens of every audience this server issued.
        let own_tokens = Verifier::without_audience_check(config.issuer.clone())
            .leeway(Duration::ZERO)
            .max_lifetime(Duration::from_secs(config.token_max_ttl));
        Ok(AppState(Arc::new(Shared {
            config: Arc::new(config),
            store,
            clock,
            dns: Arc::new(dns),
            keyring: Arc::new(keyring),
            limiter: Arc::new(limiter),
            registrations: Arc::new(registrations),
            outstanding: Arc::new(outstanding),
            user_code_lookups: Arc::new(LookupLimiter::default()),
            own_tokens,
            challenges,
            known_agents: KnownAgents::default(),
            status_lists: StatusListCache::default(),
            started: Instant::now(),
        })))
    }

    /// Milliseconds since the state was built (monotonic; for rate limiting only).
    pub fn monotonic_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `issuer` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.issuer, path)
    }
}

/// The deployment's challenge secret: created by the first server to start, shared by every replica.
async fn challenge_secret(store: &dyn Store) -> Result<ChallengeSecret, StoreError> {
    let stored = store
        .server_secret("challenge", ids::challenge_secret())
        .await?;
    let bytes: [u8; CHALLENGE_SECRET_LEN] = stored.as_slice().try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "server secret `challenge` is {} bytes, not {CHALLENGE_SECRET_LEN}",
            stored.len()
        ))
    })?;
    Ok(ChallengeSecret::from_bytes(bytes))
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
