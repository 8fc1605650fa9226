//! `/v1/operators`: registration and recovery (signed by the key in the body), status, DNS
//! verification instructions and confirmation, the root-key change, the operator's agents and
//! revocations (operator-signed).

use auth4agent_api::{
    AgentList, AgentListQuery, ChangeOperatorKey, Operator, RecoverOperator, RecoveryInstructions,
    RegisterOperator, Revocations, RevokedAgent, RevokedToken, VerificationInstructions,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use auth4agent_protocol::Jwk;

use super::{agent_view, operator_view};
use crate::auth::{OperatorSigned, RegistersKey, SelfSigned};
use crate::errors::AppResult;
use crate::service::{operators, revocation};
use crate::state::AppState;

impl RegistersKey for RegisterOperator {
    fn public_key(&self) -> &Jwk {
        &self.public_key
    }
}

/// `POST /v1/operators`, signed by the key in the body.
pub async fn register(
    State(state): State<AppState>,
    req: SelfSigned<RegisterOperator>,
) -> AppResult<(StatusCode, Json<Operator>)> {
    let domain = operators::registrable_domain(&req.body.domain)?;
    let now = state.clock.now();
    let operator = operators::register(&state, domain, req.key, now).await?;
    Ok((StatusCode::CREATED, Json(operator_view(&operator, now))))
}

/// `GET /v1/operators/{id}` (operator-signed).
pub async fn status(State(state): State<AppState>, req: OperatorSigned) -> Json<Operator> {
    Json(operator_view(&req.operator, state.clock.now()))
}

/// `GET /v1/operators/{id}/verification` (operator-signed): what to publish in DNS.
pub async fn instructions(req: OperatorSigned) -> Json<VerificationInstructions> {
    let record = operators::instructions(&req.operator);
    Json(VerificationInstructions {
        domain: req.operator.domain.to_string(),
        txt_record_name: record.name,
        txt_record_value: record.value,
    })
}

/// `POST /v1/operators/{id}/verification` (operator-signed): looks the TXT record up now.
pub async fn confirm(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<Operator>> {
    let updated = operators::confirm(&state, &req.operator).await?;
    Ok(Json(operator_view(&updated, state.clock.now())))
}

/// `POST /v1/operators/{id}/key` (signed by the current key): the key change (spec §10.5).
pub async fn change_key(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<Operator>> {
    let body: ChangeOperatorKey = req.request.json()?;
    let now = state.clock.now();
    let updated = operators::change_key(
        &state,
        &req.operator,
        &body.public_key,
        &body.key_change,
        now,
    )
    .await?;
    Ok(Json(operator_view(&updated, now)))
}

impl RegistersKey for RecoverOperator {
    fn public_key(&self) -> &Jwk {
        &self.public_key
    }
}

/// `POST /v1/operators/{id}/recovery`, signed by the new key in the body: the TXT record proving the
/// domain for it (spec §10.6).
pub async fn start_recovery(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SelfSigned<RecoverOperator>,
) -> AppResult<Json<RecoveryInstructions>> {
    let operator = operators::load(&state, &id).await?;
    let now = state.clock.now();
    let (recovery, record) = operators::start_recovery(&state, &operator, req.key, now).await?;
    Ok(Json(RecoveryInstructions {
        domain: operator.domain.to_string(),
        expires_at: recovery.expires_at,
        txt_record_name: record.name,
        txt_record_value: record.value,
    }))
}

/// `POST /v1/operators/{id}/recovery/confirm`, signed by the new key: checks its TXT record now.
pub async fn confirm_recovery(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SelfSigned<RecoverOperator>,
) -> AppResult<Json<Operator>> {
    let operator = operators::load(&state, &id).await?;
    let recovered = operators::confirm_recovery(&state, &operator, req.key).await?;
    Ok(Json(operator_view(&recovered, state.clock.now())))
}

/// `GET /v1/operators/{id}/agents` (operator-signed).
pub async fn agents(
    State(state): State<AppState>,
    Query(query): Query<AgentListQuery>,
    req: OperatorSigned,
) -> AppResult<Json<AgentList>> {
    let (agents, next_cursor) =
        operators::agents(&state, &req.operator, query.cursor.as_deref(), query.limit).await?;
    let agents = agents.iter().map(agent_view).collect();
    Ok(Json(AgentList {
        agents,
        next_cursor,
    }))
}

/// `GET /v1/operators/{id}/revocations` (operator-signed): one page of revoked tokens still live, then revoked agents.
pub async fn revocations(
    State(state): State<AppState>,
    Query(query): Query<AgentListQuery>,
    req: OperatorSigned,
) -> AppResult<Json<Revocations>> {
    let page = revocation::revocations(
        &state,
        &req.operator,
        query.cursor.as_deref(),
        query.limit,
        state.clock.now(),
    )
    .await?;
    Ok(Json(Revocations {
        tokens: page
            .tokens
            .into_iter()
            .map(|t| RevokedToken {
                jti: t.jti,
                did: t.did.to_string(),
                revoked_at: t.revoked_at,
                expires_at: t.expires_at,
            })
            .collect(),
        agents: page
            .agents
            .into_iter()
            .map(|a| RevokedAgent {
                revoked_at: a.revoked_at.unwrap_or(a.updated_at),
                did: a.did.to_string(),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
