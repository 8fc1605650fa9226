//! `/v1/agents`: registration (signed by the agent key in the body), reading (the agent or its
//! operator), and the operator's changes: scopes, suspension, reactivation, revocation.

use auth4agent_api::{Agent, RegisterAgent, SetScopes};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use auth4agent_protocol::{Jwk, ScopeSet};

use super::agent_view;
use crate::auth::{AgentSigned, OperatorSigned, RegistersKey, SelfSigned};
use crate::errors::{AppError, AppResult};
use crate::service::{agents, lifecycle::AgentEvent, operators};
use crate::state::AppState;

impl RegistersKey for RegisterAgent {
    fn public_key(&self) -> &Jwk {
        &self.public_key
    }
}

/// `POST /v1/agents`, signed by the agent key in the body. The DID is computed by the service.
pub async fn register(
    State(state): State<AppState>,
    req: SelfSigned<RegisterAgent>,
) -> AppResult<(StatusCode, Json<Agent>)> {
    let now = state.clock.now();
    let operator = operators::load(&state, &req.body.operator_id).await?;
    let agent = agents::register(&state, &operator, req.key, now).await?;
    Ok((StatusCode::CREATED, Json(agent_view(&agent))))
}

/// `GET /v1/agents/{did}` (signed by the agent or its operator).
pub async fn get(req: AgentSigned) -> AppResult<Json<Agent>> {
    Ok(Json(agent_view(&req.agent)))
}

/// `PUT /v1/agents/{did}/scopes` (operator-signed): replaces `allowed_scopes` (and `approval_scopes` when
/// given); a pending agent becomes active.
pub async fn set_scopes(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<Agent>> {
    let body: SetScopes = req.request.json()?;
    let scopes = ScopeSet::from_list(&body.allowed_scopes)
        .map_err(|e| AppError::bad_request("invalid_scope", e.to_string()))?;
    let approval = body
        .approval_scopes
        .as_deref()
        .map(ScopeSet::from_list)
        .transpose()
        .map_err(|e| AppError::bad_request("invalid_scope", e.to_string()))?;
    let now = state.clock.now();
    let updated =
        agents::set_scopes(&state, req.agent()?, &req.operator, scopes, approval, now).await?;
    Ok(Json(agent_view(&updated)))
}

/// `POST /v1/agents/{did}/suspend` (operator-signed).
pub async fn suspend(state: State<AppState>, req: OperatorSigned) -> AppResult<Json<Agent>> {
    change_status(state, req, AgentEvent::Suspend).await
}

/// `POST /v1/agents/{did}/reactivate` (operator-signed).
pub async fn reactivate(state: State<AppState>, req: OperatorSigned) -> AppResult<Json<Agent>> {
    change_status(state, req, AgentEvent::Reactivate).await
}

/// `POST /v1/agents/{did}/revoke` (operator-signed): permanent.
pub async fn revoke(state: State<AppState>, req: OperatorSigned) -> AppResult<Json<Agent>> {
    change_status(state, req, AgentEvent::Revoke).await
}

async fn change_status(
    State(state): State<AppState>,
    req: OperatorSigned,
    event: AgentEvent,
) -> AppResult<Json<Agent>> {
    let now = state.clock.now();
    let updated = agents::change_status(&state, req.agent()?, &req.operator, event, now).await?;
    Ok(Json(agent_view(&updated)))
}
