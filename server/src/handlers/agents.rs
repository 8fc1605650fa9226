//! `/v1/agents`: registration (signed by the agent key in the body, optionally asking for scopes),
//! reading (the agent or its operator, with the registration request if any), and the operator's
//! changes: scopes, suspension, reactivation, revocation.

use auth4agent_api::{Agent, RegisterAgent, SetScopes};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use auth4agent_protocol::{Jwk, ScopeSet};

use super::{agent_view, registered_agent_view};
use crate::auth::{AgentSigned, OperatorSigned, RegistersKey, SelfSigned};
use crate::errors::{AppError, AppResult};
use crate::service::{agents, lifecycle::AgentEvent, operators, registrations};
use crate::state::AppState;

impl RegistersKey for RegisterAgent {
    fn public_key(&self) -> &Jwk {
        &self.public_key
    }
}

/// `POST /v1/agents`, signed by the agent key in the body. The DID is computed by the service; with
/// `requested_scopes` the registration enters the operator's approval queue.
pub async fn register(
    State(state): State<AppState>,
    req: SelfSigned<RegisterAgent>,
) -> AppResult<(StatusCode, Json<Agent>)> {
    let now = state.clock.now();
    let body = &req.body;
    let ask = registrations::Ask::parse(body.requested_scopes.as_deref(), body.name.as_deref())?;
    let operator = operators::load_for_registration(
        &state,
        body.operator_id.as_deref(),
        body.domain.as_deref(),
        now,
    )
    .await?;
    let (agent, request) = registrations::register(&state, &operator, req.key, ask, now).await?;
    let view = registered_agent_view(&state, &agent, request.as_ref());
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/agents/{did}` (signed by the agent or its operator), with its registration request if any.
pub async fn get(State(state): State<AppState>, req: AgentSigned) -> AppResult<Json<Agent>> {
    let now = state.clock.now();
    let (agent, request) = registrations::follow(&state, req.agent, now).await?;
    Ok(Json(registered_agent_view(
        &state,
        &agent,
        request.as_ref(),
    )))
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
