//! Background work: periodic DNS re-verification of operators whose proof is due, purge of expired
//! challenges, request jtis, revocations and retired signing keys, key-ring reload and rate-limiter
//! cleanup. Runs until the shutdown signal; times come from the `Clock`. With several replicas on
//! one database, the shared passes (re-verification, purge) run only on the replica holding the
//! store's background lock; key reload and limiter cleanup run on every replica.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{MissedTickBehavior, interval};

use auth4agent_protocol::Domain;

use crate::app::AppState;
use crate::dns::TxtVerification;
use crate::handlers::audit;
use crate::store::{PurgeStats, StoreError};

/// Operators re-checked per pass.
const REVERIFY_BATCH: u32 = 1000;

/// What one re-verification pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReverifyStats {
    /// Still published: verification extended.
    pub renewed: u32,
    /// Record gone or changed: the operator is now unverified.
    pub lapsed: u32,
    /// Lookup failed: left as is, retried next pass.
    pub failed: u32,
}

/// Starts the background loop; it ends when `shutdown` flips to `true` (or its sender is dropped).
pub fn spawn(state: AppState, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reverify = interval(state.config.reverify_interval);
        reverify.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut purge_tick = interval(state.config.purge_interval);
        purge_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                _ = reverify.tick() => {
                    if !leads(&state).await {
                        continue;
                    }
                    match reverify_due(&state).await {
                        Ok(stats) if stats != ReverifyStats::default() => tracing::info!(?stats, "re-verification pass"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "re-verification pass failed"),
                    }
                }
                _ = purge_tick.tick() => {
                    if leads(&state).await {
                        match purge_store(&state).await {
                            Ok(stats) => tracing::debug!(?stats, "purged expired rows"),
                            Err(e) => tracing::error!(error = %e, "purge failed"),
                        }
                    }
                    refresh_local(&state).await;
                }
            }
        }
        tracing::debug!("background tasks stopped");
    })
}

/// Re-checks the DNS record of every verified operator last checked at least one interval ago or
/// whose verification expires before the next pass. A record still in place extends the verification; a record gone or changed makes the
/// operator unverified (its agents get no tokens); a failed lookup leaves it for the next pass.
pub async fn reverify_due(state: &AppState) -> Result<ReverifyStats, StoreError> {
    let now = state.clock.now();
    // Due: last checked at least one interval ago (expires_at = checked_at + lifetime), or expiring
    // before the next pass. A withdrawn record is thus noticed within one interval, not one lifetime.
    let interval = state.config.reverify_interval.as_secs();
    let horizon = now.saturating_add(
        state
            .config
            .verification_lifetime
            .saturating_sub(interval)
            .max(interval),
    );
    let due = state
        .store
        .list_operators_due_for_reverification(horizon, REVERIFY_BATCH)
        .await?;
    let mut stats = ReverifyStats::default();
    for operator in due {
        let outcome = match Domain::parse(&operator.domain)
            .and_then(|d| d.ensure_registrable().map(|()| d))
        {
            Ok(domain) => state.dns.verify(&domain, &operator.txt_token).await,
            Err(e) => TxtVerification::WrongValue {
                found: vec![format!("domain refused: {e}")],
            },
        };
        let now = state.clock.now();
        match outcome {
            TxtVerification::Verified => {
                let expires = now.saturating_add(state.config.verification_lifetime);
                state
                    .store
                    .set_operator_verified(&operator.id, now, expires)
                    .await?;
                audit(
                    state,
                    "server",
                    "operator.reverify",
                    &operator.id,
                    "success",
                )
                .await;
                stats.renewed += 1;
            }
            TxtVerification::NoRecord | TxtVerification::WrongValue { .. } => {
                let reason = match &outcome {
                    TxtVerification::NoRecord => "no TXT record".to_owned(),
                    other => format!("{other:?}"),
                };
                state.store.set_operator_unverified(&operator.id).await?;
                audit(state, "server", "operator.unverified", &operator.id, reason).await;
                tracing::warn!(operator = %operator.id, domain = %operator.domain, "domain verification lapsed");
                stats.lapsed += 1;
            }
            TxtVerification::LookupFailed(message) => {
                audit(
                    state,
                    "server",
                    "operator.reverify_failed",
                    &operator.id,
                    message.clone(),
                )
                .await;
                tracing::warn!(operator = %operator.id, error = %message, "re-verification lookup failed");
                stats.failed += 1;
            }
        }
    }
    Ok(stats)
}

/// Whether this process runs the shared passes now: with several replicas on one database only the
/// holder of the store's background lock does (see [`crate::store::Store::try_lead_background`]).
async fn leads(state: &AppState) -> bool {
    match state.store.try_lead_background().await {
        Ok(true) => true,
        Ok(false) => {
            tracing::trace!("another replica runs the background passes");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether this replica leads the background passes; skipping this pass");
            false
        }
    }
}

/// Deletes rows expired for more than the leeway, and retired signing keys that can verify no live token, then reloads the
/// key ring (which also picks up a rotation made by `keys rotate` while the server runs).
pub async fn purge(state: &AppState) -> Result<PurgeStats, StoreError> {
    let stats = purge_store(state).await?;
    refresh_local(state).await;
    Ok(stats)
}

/// The shared half of [`purge`]: deletes expired rows and dead signing keys (one replica suffices).
pub async fn purge_store(state: &AppState) -> Result<PurgeStats, StoreError> {
    let now = state.clock.now();
    // Request jtis and token revocations must outlive `exp` by the leeway, during which the request
    // or token could still be accepted; challenges expire on the server clock, a leeway later is harmless.
    let stats = state
        .store
        .purge_expired(now.saturating_sub(state.config.leeway))
        .await?;
    state.store.purge_retired_signing_keys(now).await?;
    let audit_events = purge_audit(state, now).await?;
    Ok(PurgeStats {
        audit_events,
        ..stats
    })
}

/// Oldest audit rows deleted per writer job (other writes run between batches).
const AUDIT_PURGE_BATCH: u32 = 5_000;
/// Batches per pass: enough to keep up with ~5,000 events/s at the default one-minute interval.
const AUDIT_PURGE_MAX_BATCHES: u32 = 100;

/// Deletes audit events past `--audit-retention`, oldest first, in batches.
async fn purge_audit(state: &AppState, now: u64) -> Result<u64, StoreError> {
    let retention = state.config.audit_retention;
    if retention == 0 {
        return Ok(0);
    }
    let before = now.saturating_sub(retention);
    let mut total = 0;
    for _ in 0..AUDIT_PURGE_MAX_BATCHES {
        let n = state.store.purge_audit(before, AUDIT_PURGE_BATCH).await?;
        total += n;
        if n < u64::from(AUDIT_PURGE_BATCH) {
            break;
        }
    }
    Ok(total)
}

/// The per-process half of [`purge`], run by every replica: reloads the key ring (picking up a
/// rotation made by `keys rotate` or another replica) and forgets idle rate-limit buckets.
pub async fn refresh_local(state: &AppState) {
    if let Err(e) = state.keyring.reload().await {
        tracing::error!(error = %e, "reloading the signing keys failed");
    }
    state.limiter.cleanup(state.monotonic_ms());
}
