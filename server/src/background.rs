//! Background work: periodic DNS re-verification of operators whose proof is due, purge of expired
//! challenges, request jtis, revocations and retired signing keys, the automatic signing-key rotation
//! (`--key-rotation-interval`), key-ring reload and rate-limiter cleanup. Runs until the shutdown
//! signal; times come from the `Clock`. With several replicas on one database, the shared passes
//! (re-verification, purge, scheduled rotation) run only on the replica holding the store's
//! background lock; key reload and limiter cleanup run on every replica.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{MissedTickBehavior, interval};

pub use crate::service::operators::{ReverifyStats, reverify_due};
use crate::state::AppState;
use crate::store::{PurgeStats, StoreError};

/// Starts the background loop; it ends when `shutdown` flips to `true` (or its sender is dropped).
pub fn spawn(state: AppState, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reverify = interval(state.config.reverify_interval);
        reverify.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut purge_tick = interval(state.config.purge_interval);
        purge_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut keys_tick = interval(state.config.key_reload_interval);
        keys_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
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
                _ = keys_tick.tick() => {
                    if state.config.key_rotation_interval.is_some() && leads(&state).await {
                        rotate_on_schedule(&state).await;
                    }
                    refresh_keys(&state).await;
                }
            }
        }
        tracing::debug!("background tasks stopped");
    })
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
    refresh_keys(state).await;
    Ok(stats)
}

/// The automatic rotation (one replica): adds the next signing key, published ahead, once the
/// current one has signed for `--key-rotation-interval` less `--key-publish-ahead`. Race-free
/// should two replicas both believe they lead: the store adds one key per current key.
pub async fn rotate_on_schedule(state: &AppState) {
    let Some(interval) = state.config.key_rotation_interval else {
        return;
    };
    let now = state.clock.now();
    match state
        .keyring
        .rotate_on_schedule(now, interval, state.config.key_publish_ahead)
        .await
    {
        Ok(Some(scheduled)) => tracing::info!(
            new_kid = %scheduled.kid,
            activates_at = scheduled.activates_at,
            retired_key_published_until = scheduled.previous_not_after,
            "scheduled signing-key rotation: the next key is published, signing from activates_at"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "scheduled signing-key rotation failed"),
    }
}

/// Every replica, every `--key-reload-interval`: re-reads the key ring, picking up a rotation made by
/// `keys rotate`, by another replica or by the schedule.
pub async fn refresh_keys(state: &AppState) {
    if let Err(e) = state.keyring.reload().await {
        tracing::error!(error = %e, "reloading the signing keys failed");
    }
}

/// The shared half of [`purge`]: deletes expired rows, dead signing keys and pending registrations past
/// their time (one replica suffices).
pub async fn purge_store(state: &AppState) -> Result<PurgeStats, StoreError> {
    let now = state.clock.now();
    // Request jtis and token revocations must outlive `exp` by the leeway, during which the request
    // or token could still be accepted; challenges expire on the server clock, a leeway later is harmless.
    let stats = state
        .store
        .purge_expired(now.saturating_sub(state.config.leeway))
        .await?;
    state.store.purge_retired_signing_keys(now).await?;
    crate::service::device::expire_and_purge(state, now).await?;
    let audit_events = purge_audit(state, now).await?;
    let challenges = purge_redeemed_challenges(state, now).await?;
    let pending_agents = match state.config.pending_agent_ttl {
        0 => 0,
        ttl => {
            state
                .store
                .purge_pending_agents(now.saturating_sub(ttl))
                .await?
        }
    };
    if pending_agents > 0 {
        tracing::info!(
            pending_agents,
            "deleted pending registrations past --pending-agent-ttl"
        );
    }
    Ok(PurgeStats {
        challenges,
        audit_events,
        pending_agents,
        ..stats
    })
}

/// How long a redeemed challenge stays recorded after its expiry, beyond the leeway: replicas judge the
/// expiry by their own clocks, and a redemption purged while another replica still takes the challenge
/// for unexpired could be replayed there.
pub const REDEMPTION_GRACE: u64 = 30;
/// Redeemed challenges deleted per writer job: a pass at 5,000 tokens/s deletes ~300,000 rows, which
/// one statement would hold the writer (and every issuance behind it) for too long. Each job joins the
/// commit of the issuances queued with it, so it is kept small: at 1,000 rows the issuance p99 paced at
/// 6,472/s was 5.3 ms over a run with purges, at 100 rows 3.9 ms (BENCHMARKS.md).
const REDEMPTION_PURGE_BATCH: u32 = 100;

/// Deletes redeemed challenges past their expiry, the leeway and [`REDEMPTION_GRACE`], in batches.
async fn purge_redeemed_challenges(state: &AppState, now: u64) -> Result<u64, StoreError> {
    let before = now.saturating_sub(state.config.leeway + REDEMPTION_GRACE);
    let mut total = 0;
    loop {
        let n = state
            .store
            .purge_redeemed_challenges(before, REDEMPTION_PURGE_BATCH)
            .await?;
        total += n;
        if n < u64::from(REDEMPTION_PURGE_BATCH) {
            return Ok(total);
        }
    }
}

/// Oldest audit rows deleted per writer job (other writes run between batches; small for the same
/// reason as [`REDEMPTION_PURGE_BATCH`]).
const AUDIT_PURGE_BATCH: u32 = 100;
/// Batches per pass: enough to keep up with ~10,000 events/s at the default one-minute interval.
const AUDIT_PURGE_MAX_BATCHES: u32 = 6_000;

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

/// The per-process half of [`purge`], run by every replica: forgets idle rate-limit buckets and
/// open challenges past their time.
pub async fn refresh_local(state: &AppState) {
    state.limiter.cleanup(state.monotonic_ms());
    state.outstanding.cleanup(state.clock.now());
    state.user_code_lookups.cleanup(state.monotonic_ms());
}
