//! Agents: registration under an operator, and every change an operator makes to one (scopes,
//! suspension, reactivation, revocation), each one [`AgentStatus::apply`] compare-and-set in the
//! store; and what a decided registration request does to its pending agent ([`settle_registration`]).
//! Only the agent's operator may change an agent; the agent itself may only read.

use auth4agent_protocol::{Did, PublicKey, ScopeSet};

use super::lifecycle::{AgentEvent, Lifecycle as _, Refusal};
use super::operators::require_verified;
use auth4agent_api::ErrorCode;

use super::{ServiceError, ServiceResult, audit};
use crate::state::AppState;
use crate::store::{
    Agent, AgentStatus, AgentUpdate, DeviceAuthorization, DeviceStatus, IdentityVersion, Operator,
    StoreError, UnixTime,
};

/// How often a change is re-applied when the agent's status changed under it.
const CAS_ATTEMPTS: usize = 4;

/// Parses a DID from a path or body, or refuses with `invalid_did`.
pub fn parse_did(s: &str) -> ServiceResult<Did> {
    Did::parse(s).map_err(|e| ServiceError::refused(ErrorCode::InvalidDid, e.to_string()))
}

pub(crate) fn not_found(did: &str) -> ServiceError {
    ServiceError::refused(ErrorCode::AgentNotFound, format!("no agent {did}"))
}

/// Loads an agent or refuses with `agent_not_found`.
pub async fn load(state: &AppState, did: &Did) -> ServiceResult<Agent> {
    state
        .store
        .get_agent(did)
        .await?
        .ok_or_else(|| not_found(did.as_str()))
}

/// Loads an agent and its operator.
pub async fn load_with_operator(state: &AppState, did: &Did) -> ServiceResult<(Agent, Operator)> {
    state
        .store
        .get_agent_with_operator(did)
        .await?
        .ok_or_else(|| not_found(did.as_str()))
}

/// Loads an agent and its operator for an issuance, possibly from a cache the redemption checks
/// (`Store::get_agent_for_issuance`).
pub async fn load_for_issuance(
    state: &AppState,
    did: &Did,
) -> ServiceResult<(Agent, Operator, IdentityVersion)> {
    state
        .store
        .get_agent_for_issuance(did)
        .await?
        .ok_or_else(|| not_found(did.as_str()))
}

fn agent_exists(did: &Did) -> ServiceError {
    ServiceError::refused(
        ErrorCode::AgentExists,
        format!("agent {did} is already registered"),
    )
}

/// Registers the agent holding `key` (its proof of possession checked by the caller) under
/// `operator`. The DID is computed here; the agent stays `pending` until its operator grants scopes.
pub async fn register(
    state: &AppState,
    operator: &Operator,
    key: PublicKey,
    now: UnixTime,
) -> ServiceResult<Agent> {
    let did = Did::from_key(&operator.domain, &key);
    if state.store.get_agent(&did).await?.is_some() {
        return Err(agent_exists(&did));
    }
    if let Err(wait) = state
        .registrations
        .check(operator.id.clone(), state.monotonic_ms())
    {
        return Err(ServiceError::RateLimited {
            retry_after: wait,
            message: format!(
                "too many registrations for operator {}; retry later",
                operator.id
            ),
        });
    }
    // Not a hard bound under concurrency: registrations racing past this check may each land (at most
    // the registrations in flight at once, themselves rate-limited).
    let cap = state.config.max_pending_agents;
    if cap > 0 && state.store.count_pending_agents(&operator.id).await? >= cap {
        return Err(ServiceError::refused(
            ErrorCode::TooManyPendingAgents,
            format!(
                "operator {} has {cap} pending registrations, its limit; the operator must approve or revoke some, \
                 or wait for them to expire",
                operator.id
            ),
        ));
    }
    let agent = Agent {
        did: did.clone(),
        operator_id: operator.id.clone(),
        public_key: key,
        thumbprint: key.thumbprint(),
        status: AgentStatus::Pending,
        allowed_scopes: ScopeSet::default(),
        approval_scopes: ScopeSet::default(),
        created_at: now,
        updated_at: now,
        revoked_at: None,
        status_entry: None,
    };
    let agent = match state
        .store
        .insert_agent(agent, state.config.status_list_size)
        .await
    {
        Ok(agent) => agent,
        Err(StoreError::Conflict(_)) => return Err(agent_exists(&did)),
        Err(StoreError::NotFound) => return Err(super::operators::not_found(&operator.id)),
        Err(e) => return Err(e.into()),
    };
    let detail = format!("operator={}", operator.id);
    audit::record(
        state,
        now,
        did.as_str(),
        "agent.register",
        did.as_str(),
        detail,
    )
    .await;
    Ok(agent)
}

/// Replaces the agent's allowed scopes; a pending agent becomes active. Granting needs a proven
/// domain: an agent's DID names the domain, so an operator that has not proven it (or whose proof
/// lapsed) grants nothing.
pub async fn set_scopes(
    state: &AppState,
    agent: Agent,
    operator: &Operator,
    scopes: ScopeSet,
    approval_scopes: Option<ScopeSet>,
    now: UnixTime,
) -> ServiceResult<Agent> {
    require_verified(operator, now)?;
    let previous = agent.allowed_scopes.to_vec();
    let previous_approval = agent.approval_scopes.to_vec();
    let was = agent.status;
    let updated = transition(
        state,
        agent,
        AgentEvent::SetScopes,
        Some((scopes, approval_scopes)),
        now,
    )
    .await?;
    let detail = format!(
        "allowed_scopes={:?} previous={previous:?} approval_scopes={:?} previous_approval={previous_approval:?}",
        updated.allowed_scopes.to_vec(),
        updated.approval_scopes.to_vec()
    );
    audit::record(
        state,
        now,
        &operator.id,
        "agent.scopes",
        updated.did.as_str(),
        detail,
    )
    .await;
    if was == AgentStatus::Pending && updated.status == AgentStatus::Active {
        let did = updated.did.as_str();
        audit::record(
            state,
            now,
            &operator.id,
            "agent.approve",
            did,
            "pending -> active",
        )
        .await;
    }
    Ok(updated)
}

/// What a decided registration request does to its agent, if the agent is still pending: approved, the agent
/// becomes active with the approved scopes as its allowed scopes (the operator's change, audited as such);
/// denied or expired, it is revoked (`actor` is audited: the operator, or `server` for an expiry). An agent
/// no longer pending, or a request still pending, is left as it is. Idempotent: the agent's own poll calls it
/// again, so a decision whose second step was lost still takes effect.
pub async fn settle_registration(
    state: &AppState,
    request: &DeviceAuthorization,
    actor: &str,
    now: UnixTime,
) -> ServiceResult<Agent> {
    let (agent, operator) = load_with_operator(state, &request.did).await?;
    if agent.status != AgentStatus::Pending {
        return Ok(agent);
    }
    match request.status {
        DeviceStatus::Approved => {
            let granted = request.granted_scopes.clone();
            set_scopes(state, agent, &operator, granted, None, now).await
        }
        DeviceStatus::Denied | DeviceStatus::Expired => {
            let updated = transition(state, agent, AgentEvent::Revoke, None, now).await?;
            let detail = format!(
                "pending -> revoked (registration {})",
                request.status.as_str()
            );
            audit::record(
                state,
                now,
                actor,
                "agent.revoke",
                updated.did.as_str(),
                detail,
            )
            .await;
            Ok(updated)
        }
        DeviceStatus::Pending | DeviceStatus::Consumed => Ok(agent),
    }
}

/// Suspends, reactivates or revokes the agent. Reactivation needs a proven domain; narrowing
/// powers (suspend, revoke) stays open.
pub async fn change_status(
    state: &AppState,
    agent: Agent,
    operator: &Operator,
    event: AgentEvent,
    now: UnixTime,
) -> ServiceResult<Agent> {
    // Refuse the transition itself before any other check, as the lifecycle decides first.
    agent
        .status
        .apply(event)
        .map_err(|r| refusal(agent.did.as_str(), r))?;
    if event == AgentEvent::Reactivate {
        require_verified(operator, now)?;
    }
    let action = match event {
        AgentEvent::Suspend => "agent.suspend",
        AgentEvent::Reactivate => "agent.reactivate",
        AgentEvent::Revoke => "agent.revoke",
        AgentEvent::SetScopes => "agent.scopes",
    };
    let was = agent.status;
    let updated = transition(state, agent, event, None, now).await?;
    let detail = format!("{was} -> {}", updated.status);
    audit::record(
        state,
        now,
        &operator.id,
        action,
        updated.did.as_str(),
        detail,
    )
    .await;
    Ok(updated)
}

/// Applies `event` to the agent with a compare-and-set on its status, re-reading and re-applying
/// when another change won the race. Revoking a revoked agent writes nothing.
async fn transition(
    state: &AppState,
    mut agent: Agent,
    event: AgentEvent,
    scopes: Option<(ScopeSet, Option<ScopeSet>)>,
    now: UnixTime,
) -> ServiceResult<Agent> {
    for _ in 0..CAS_ATTEMPTS {
        let next = agent
            .status
            .apply(event)
            .map_err(|r| refusal(agent.did.as_str(), r))?;
        if agent.status == AgentStatus::Revoked {
            return Ok(agent);
        }
        // Before the status change, so that a crash between the two errs on the side of inactive tokens.
        if next != agent.status && matches!(next, AgentStatus::Suspended | AgentStatus::Revoked) {
            state
                .store
                .set_token_cutoff(agent.did.as_str(), now)
                .await?;
        }
        let update = AgentUpdate {
            status: next,
            allowed_scopes: scopes
                .as_ref()
                .map_or_else(|| agent.allowed_scopes.clone(), |(s, _)| s.clone()),
            approval_scopes: scopes
                .as_ref()
                .and_then(|(_, a)| a.clone())
                .unwrap_or_else(|| agent.approval_scopes.clone()),
            updated_at: now,
            revoked_at: if next == AgentStatus::Revoked {
                Some(now)
            } else {
                agent.revoked_at
            },
        };
        match state
            .store
            .update_agent(&agent.did, agent.status, update)
            .await
        {
            Ok(updated) => return Ok(updated),
            Err(StoreError::StatusChanged(_)) => {
                agent = state
                    .store
                    .get_agent(&agent.did)
                    .await?
                    .ok_or_else(|| not_found(agent.did.as_str()))?;
            }
            Err(StoreError::NotFound) => return Err(not_found(agent.did.as_str())),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Storage(StoreError::Unavailable(format!(
        "agent {} kept changing during the update",
        agent.did
    ))))
}

/// The wire refusal of a lifecycle transition.
fn refusal(did: &str, refusal: Refusal) -> ServiceError {
    match refusal {
        Refusal::Revoked => ServiceError::refused(
            ErrorCode::AgentRevoked,
            format!("agent {did} is revoked; revocation is permanent"),
        ),
        Refusal::Pending => ServiceError::refused(
            ErrorCode::AgentNotActive,
            format!(
                "agent {did} is pending: approve it with PUT /v1/agents/{{did}}/scopes (or revoke it)"
            ),
        ),
    }
}
