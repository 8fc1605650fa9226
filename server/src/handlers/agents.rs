//! Agents: registration (proof of possession of the agent key), reading, scopes and status changes.
//! Only the agent's operator may change an agent; the agent itself may only read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use auth4agent_protocol::{Did, Domain, Jwk, ScopeSet};

use super::operators::body_key;
use super::{agent_view, audit, load_agent, load_operator, parse_did, require_verified};
use crate::app::AppState;
use crate::auth::{KidMismatch, SignedBody, verify_signed};
use crate::errors::{AppError, AppResult};
use crate::store::{Agent, AgentStatus, Operator, StoreError};

#[derive(Deserialize)]
struct RegisterAgent {
    operator_id: String,
    public_key: Jwk,
}

#[derive(Deserialize)]
struct SetScopes {
    allowed_scopes: Vec<String>,
}

/// `POST /v1/agents`, signed by the agent key in the body. The DID is computed here.
pub async fn register(
    State(state): State<AppState>,
    req: SignedBody,
) -> AppResult<(StatusCode, Json<Value>)> {
    let body: RegisterAgent = req.json()?;
    let key = body_key(&body.public_key)?;
    let operator = load_operator(&state, &body.operator_id).await?;
    let unverified = req.unverified()?;
    verify_signed(
        &state,
        &req,
        unverified,
        &key,
        KidMismatch::InvalidSignature,
    )
    .await?;

    let domain = Domain::parse(&operator.domain)
        .map_err(|e| AppError::internal(format!("stored domain: {e}")))?;
    let did = Did::from_key(&domain, &key);
    if state.store.get_agent(did.as_str()).await?.is_some() {
        return Err(agent_exists(&did));
    }
    let now = state.clock.now();
    let agent = Agent {
        did: did.as_str().to_owned(),
        operator_id: operator.id.clone(),
        public_key: *key.as_bytes(),
        thumbprint: key.thumbprint(),
        status: AgentStatus::Pending,
        allowed_scopes: Vec::new(),
        created_at: now,
        updated_at: now,
        revoked_at: None,
    };
    match state.store.insert_agent(agent.clone()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(agent_exists(&did)),
        Err(StoreError::NotFound) => {
            return Err(AppError::not_found(
                "operator_not_found",
                format!("no operator {:?}", operator.id),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    audit(
        &state,
        did.as_str(),
        "agent.register",
        did.as_str(),
        format!("operator={}", operator.id),
    )
    .await;
    Ok((StatusCode::CREATED, Json(agent_view(&agent)?)))
}

fn agent_exists(did: &Did) -> AppError {
    AppError::conflict("agent_exists", format!("agent {did} is already registered"))
}

/// Loads the agent in the path and its operator, and checks the signature. `agent_may_sign`
/// admits the agent's own key (read-only calls); otherwise only the operator's root key is allowed.
async fn authorize(
    state: &AppState,
    did: &str,
    req: &SignedBody,
    agent_may_sign: bool,
) -> AppResult<(Agent, Operator)> {
    let did = parse_did(did)?;
    let agent = load_agent(state, &did).await?;
    let operator = load_operator(state, &agent.operator_id).await?;
    let unverified = req.unverified()?;
    let key = if agent_may_sign && unverified.kid() == agent.thumbprint {
        state.keys.get(&agent.public_key)?
    } else {
        state.keys.get(&operator.public_key)?
    };
    verify_signed(state, req, unverified, &key, KidMismatch::Forbidden).await?;
    Ok((agent, operator))
}

/// `GET /v1/agents/{did}` (signed by the agent or its operator).
pub async fn get(
    State(state): State<AppState>,
    Path(did): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let (agent, _) = authorize(&state, &did, &req, true).await?;
    Ok(Json(agent_view(&agent)?))
}

/// `PUT /v1/agents/{did}/scopes` (operator-signed): replaces `allowed_scopes`; a pending agent becomes active.
pub async fn set_scopes(
    State(state): State<AppState>,
    Path(did): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let (agent, operator) = authorize(&state, &did, &req, false).await?;
    let body: SetScopes = req.json()?;
    let scopes = ScopeSet::from_list(&body.allowed_scopes)
        .map_err(|e| AppError::bad_request("invalid_scope", e.to_string()))?;
    // Granting needs a proven domain: an agent's DID names the domain, so an operator that has not
    // proven it (or whose proof lapsed) grants nothing. Narrowing powers (suspend, revoke) stays open.
    require_verified(&operator, state.clock.now())?;
    let was = agent.status;
    let updated = state
        .store
        .set_agent_scopes(&agent.did, scopes.to_vec(), state.clock.now())
        .await
        .map_err(|e| agent_store_error(&agent.did, e))?;
    audit(
        &state,
        &operator.id,
        "agent.scopes",
        &agent.did,
        format!(
            "allowed_scopes={:?} previous={:?}",
            updated.allowed_scopes, agent.allowed_scopes
        ),
    )
    .await;
    if was == AgentStatus::Pending && updated.status == AgentStatus::Active {
        audit(
            &state,
            &operator.id,
            "agent.approve",
            &agent.did,
            "pending -> active",
        )
        .await;
    }
    Ok(Json(agent_view(&updated)?))
}

/// `POST /v1/agents/{did}/suspend` (operator-signed).
pub async fn suspend(
    State(state): State<AppState>,
    Path(did): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    change_status(state, did, req, AgentStatus::Suspended, "agent.suspend").await
}

/// `POST /v1/agents/{did}/reactivate` (operator-signed).
pub async fn reactivate(
    State(state): State<AppState>,
    Path(did): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    change_status(state, did, req, AgentStatus::Active, "agent.reactivate").await
}

/// `POST /v1/agents/{did}/revoke` (operator-signed): permanent.
pub async fn revoke(
    State(state): State<AppState>,
    Path(did): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    change_status(state, did, req, AgentStatus::Revoked, "agent.revoke").await
}

async fn change_status(
    state: AppState,
    did: String,
    req: SignedBody,
    to: AgentStatus,
    action: &str,
) -> AppResult<Json<Value>> {
    let (agent, operator) = authorize(&state, &did, &req, false).await?;
    check_transition(&agent, to)?;
    if to == AgentStatus::Active {
        require_verified(&operator, state.clock.now())?;
    }
    let updated = state
        .store
        .set_agent_status(&agent.did, to, state.clock.now())
        .await
        .map_err(|e| agent_store_error(&agent.did, e))?;
    audit(
        &state,
        &operator.id,
        action,
        &agent.did,
        format!("{} -> {}", agent.status, updated.status),
    )
    .await;
    Ok(Json(agent_view(&updated)?))
}

/// Status changes (spec §11.3): any status may be revoked (revoking again is a no-op); a revoked
/// agent can change no more; a pending agent is only approved (scopes) or revoked; suspend and
/// reactivate between active and suspended are idempotent.
fn check_transition(agent: &Agent, to: AgentStatus) -> AppResult<()> {
    match (agent.status, to) {
        (_, AgentStatus::Revoked) => Ok(()),
        (AgentStatus::Revoked, _) => Err(agent_revoked(&agent.did)),
        (AgentStatus::Pending, _) => Err(AppError::forbidden(
            "agent_not_active",
            format!(
                "agent {} is pending: approve it with PUT /v1/agents/{{did}}/scopes (or revoke it)",
                agent.did
            ),
        )),
        _ => Ok(()),
    }
}

fn agent_revoked(did: &str) -> AppError {
    AppError::conflict(
        "agent_revoked",
        format!("agent {did} is revoked; revocation is permanent"),
    )
}

fn agent_store_error(did: &str, e: StoreError) -> AppError {
    match e {
        StoreError::Revoked => agent_revoked(did),
        StoreError::NotFound => AppError::not_found("agent_not_found", format!("no agent {did}")),
        e => e.into(),
    }
}
