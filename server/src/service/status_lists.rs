//! Token Status Lists (draft-ietf-oauth-status-list-20): what each agent's entry says, and the signed
//! lists this server publishes.
//!
//! An entry's value is computed from the database at signing time ([`entry_status`]): a revoked
//! agent is 1 (invalid), a suspended agent or one whose operator has no current proof is 2
//! (suspended), every other entry 0. Lists are signed on demand, per ttl-aligned window: the window
//! `[w, w + ttl)` holding `now` gives `iat = w`, the operator proofs are judged at `w`, and
//! `exp = w + ttl + STATUS_LIST_GRACE`. Ed25519 is deterministic, so replicas that read the same
//! state in one window serve the same bytes. Each replica keeps the list it signed until its window
//! ends ([`StatusListCache`]): a served list never lags the database by more than `ttl`.

use auth4agent_api::{ErrorCode, routes};
use auth4agent_protocol::{
    STATUS_BITS, StatusClaim, StatusList, StatusListTokenClaims, TokenStatus, issue_status_list,
};

use super::operators::proof_is_current;
use super::{ServiceError, ServiceResult};
use crate::state::AppState;
pub use crate::status_list_cache::{SignedList, StatusListCache};
use crate::store::{AgentStatus, FlaggedEntry, StatusEntry, StatusListInfo, UnixTime};

/// How long after its window a list may still be relied upon (`exp - iat - ttl`): one hour, the
/// longest token lifetime, so that a verifier that cannot reach the server may keep using its last
/// list for a bounded time (its own policy decides how long, within `exp`).
pub const STATUS_LIST_GRACE: u64 = 3600;

/// The value of an agent's entry: revoked → invalid; suspended, or its operator's proof not current
/// at `now` (as `operators::is_verified` judges it) → suspended; otherwise valid (a pending agent holds no
/// token, and an unused entry is indistinguishable from a valid one).
pub fn entry_status(agent: AgentStatus, operator_verified: bool) -> TokenStatus {
    match agent {
        AgentStatus::Revoked => TokenStatus::Invalid,
        AgentStatus::Suspended => TokenStatus::Suspended,
        _ if !operator_verified => TokenStatus::Suspended,
        _ => TokenStatus::Valid,
    }
}

/// Whether the operator of a flagged entry has a current proof at `now` (the lifecycle's own rule).
fn operator_verified(entry: &FlaggedEntry, now: UnixTime) -> bool {
    proof_is_current(entry.operator_status, entry.verification_expires_at, now)
}

/// The URI of list `list`: `<issuer>/status-lists/<list>`, the `sub` of its token.
pub fn list_uri(state: &AppState, list: u64) -> String {
    state.url(&routes::status_list(list))
}

/// The `status` claim of a token of the agent holding `entry`.
pub fn status_claim(state: &AppState, entry: StatusEntry) -> StatusClaim {
    StatusClaim::new(list_uri(state, entry.list), entry.index)
}

/// The URIs of every list, for the aggregation endpoint (§9).
pub async fn aggregation(state: &AppState) -> ServiceResult<Vec<String>> {
    Ok(state
        .store
        .list_status_lists()
        .await?
        .into_iter()
        .map(|info| list_uri(state, info.list))
        .collect())
}

/// The start of the ttl-aligned window holding `now`.
pub fn window_start(now: UnixTime, ttl: u64) -> UnixTime {
    now - now % ttl.max(1)
}

/// The signed list `list` as of `now`: this window's from the cache, else signed from the database.
/// `status_list_not_found` if there is no such list.
pub async fn signed_list(state: &AppState, list: u64, now: UnixTime) -> ServiceResult<SignedList> {
    let cache = &state.status_lists;
    if let Some(hit) = cache.get(list, now) {
        return Ok(hit);
    }
    let _signing = cache.signing().await;
    if let Some(hit) = cache.get(list, now) {
        return Ok(hit);
    }
    let info = state
        .store
        .get_status_list(list)
        .await?
        .ok_or_else(|| not_found(list))?;
    let signed = sign(state, info, now).await?;
    cache.put(list, signed.clone(), now);
    Ok(signed)
}

fn not_found(list: u64) -> ServiceError {
    ServiceError::refused(
        ErrorCode::StatusListNotFound,
        format!("there is no status list {list}"),
    )
}

/// Signs list `info` for the window holding `now`, from the database as it is now.
pub async fn sign(
    state: &AppState,
    info: StatusListInfo,
    now: UnixTime,
) -> ServiceResult<SignedList> {
    let ttl = state.config.status_list_ttl;
    let iat = window_start(now, ttl);
    let flagged = state.store.status_list_flagged(info.list, iat).await?;
    let mut list = StatusList::new(STATUS_BITS, info.size)
        .map_err(|e| ServiceError::internal(format!("status list {}: {e}", info.list)))?;
    for entry in &flagged {
        let status = entry_status(entry.agent_status, operator_verified(entry, iat));
        if status != TokenStatus::Valid {
            list.set(entry.index, status.value()).map_err(|e| {
                ServiceError::internal(format!("status list {} entry: {e}", info.list))
            })?;
        }
    }
    let claims = StatusListTokenClaims {
        sub: list_uri(state, info.list),
        iat,
        exp: iat + ttl + STATUS_LIST_GRACE,
        ttl,
        status_list: list.encode(),
    };
    let active = state.keyring.active(now);
    let token = issue_status_list(active.signing_key(), active.kid(), &claims)
        .map_err(|e| ServiceError::internal(format!("signing status list: {e}")))?;
    Ok(SignedList {
        token: token.into(),
        fresh_until: iat + ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OperatorStatus;

    #[test]
    fn entry_values() {
        use AgentStatus as A;
        for (agent, verified, expected) in [
            (A::Active, true, TokenStatus::Valid),
            (A::Pending, true, TokenStatus::Valid),
            (A::Suspended, true, TokenStatus::Suspended),
            (A::Revoked, true, TokenStatus::Invalid),
            (A::Active, false, TokenStatus::Suspended),
            (A::Suspended, false, TokenStatus::Suspended),
            (A::Revoked, false, TokenStatus::Invalid),
        ] {
            assert_eq!(
                entry_status(agent, verified),
                expected,
                "{agent} {verified}"
            );
        }
    }

    #[test]
    fn a_lapse_is_judged_as_the_lifecycle_judges_it() {
        let entry = |status, expires| FlaggedEntry {
            index: 0,
            agent_status: AgentStatus::Active,
            operator_status: status,
            verification_expires_at: expires,
        };
        assert!(operator_verified(
            &entry(OperatorStatus::Verified, Some(101)),
            100
        ));
        assert!(!operator_verified(
            &entry(OperatorStatus::Verified, Some(100)),
            100
        ));
        assert!(!operator_verified(
            &entry(OperatorStatus::Unverified, None),
            100
        ));
    }

    #[test]
    fn windows_align_on_ttl() {
        assert_eq!(window_start(1_000_059, 60), 1_000_020);
        assert_eq!(window_start(1_000_020, 60), 1_000_020);
        assert_eq!(window_start(7, 1), 7);
    }
}
