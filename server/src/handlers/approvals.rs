//! `/v1/operators/{id}/approvals` and `/v1/operators/{id}/grants`: the operator's decisions on device
//! authorizations and its remembered grants, every call signed by the operator key. The `wait` query of
//! the list is not covered by the signature (a signed request's `htu` has no query): it asks for nothing
//! but a longer wait.

use std::time::Duration;

use auth4agent_api::{
    AgentListQuery, ApprovalDecision, ApprovalList, ApprovalRequest, ApproveRequest, DenyRequest,
    GrantList, RevokeGrantRequest,
};
use auth4agent_protocol::ScopeSet;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::auth::OperatorSigned;
use crate::errors::{AppError, AppResult};
use crate::service::device::{self, METHOD_CLI_KEY};
use crate::state::AppState;
use crate::store::{ApprovalKind, DeviceAuthorization, DeviceStatus, RememberedGrant};

/// The list's query: `wait`, seconds to long-poll for a request (capped under the request timeout).
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

fn request_view(a: &DeviceAuthorization, now: u64) -> ApprovalRequest {
    ApprovalRequest {
        age: now.saturating_sub(a.created_at),
        binding_message: a.binding_message.clone(),
        created_at: a.created_at,
        did: a.did.to_string(),
        expires_at: a.expires_at,
        kind: kind_view(a.kind),
        name: a.agent_name.clone(),
        resource: a.resource.clone(),
        scopes: a.scopes.to_vec(),
        user_code: device::display_code(&a.user_code),
    }
}

fn kind_view(kind: ApprovalKind) -> auth4agent_api::ApprovalKind {
    match kind {
        ApprovalKind::DeviceAuthorization => auth4agent_api::ApprovalKind::DeviceAuthorization,
        ApprovalKind::Registration => auth4agent_api::ApprovalKind::Registration,
    }
}

/// A registration's agent after the decision: an approval made it active, a denial revoked it.
fn agent_status(a: &DeviceAuthorization) -> Option<String> {
    (a.kind == ApprovalKind::Registration).then(|| {
        if a.status == DeviceStatus::Approved {
            "active".to_owned()
        } else {
            "revoked".to_owned()
        }
    })
}

fn grant_view(g: &RememberedGrant) -> auth4agent_api::RememberedGrant {
    auth4agent_api::RememberedGrant {
        created_at: g.created_at,
        did: g.did.to_string(),
        expires_at: g.expires_at,
        id: g.id.clone(),
        resource: g.resource.clone(),
        revoked_at: g.revoked_at,
        scopes: g.scopes.to_vec(),
    }
}

/// `GET /v1/operators/{id}/approvals[?wait=SECONDS]` (operator-signed): pending requests, oldest first.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    req: OperatorSigned,
) -> AppResult<Json<ApprovalList>> {
    let Query(query) = query.map_err(|_| {
        AppError::invalid_request(
            "the query takes only wait (whole seconds), limit (1 to 1000) and cursor",
        )
    })?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(device::max_wait(&state));
    let (pending, next_cursor) = device::pending(
        &state,
        &req.operator,
        wait,
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    let now = state.clock.now();
    Ok(Json(ApprovalList {
        approvals: pending.iter().map(|a| request_view(a, now)).collect(),
        next_cursor,
    }))
}

/// `POST /v1/operators/{id}/approvals/approve` (operator-signed).
pub async fn approve(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<ApprovalDecision>> {
    let body: ApproveRequest = req.request.json()?;
    let scopes = body
        .scopes
        .as_deref()
        .map(ScopeSet::from_list)
        .transpose()
        .map_err(|e| AppError::bad_request("invalid_scope", e.to_string()))?;
    let now = state.clock.now();
    let (decided, remembered) = device::approve(
        &state,
        &req.operator,
        &body.user_code,
        scopes,
        body.remember_seconds,
        METHOD_CLI_KEY,
        now,
    )
    .await?;
    Ok(Json(ApprovalDecision {
        agent_status: agent_status(&decided),
        did: decided.did.to_string(),
        remembered_grant: remembered.as_ref().map(grant_view),
        resource: decided.resource.clone(),
        scopes: decided.granted_scopes.to_vec(),
        status: decided.status.as_str().to_owned(),
        user_code: device::display_code(&decided.user_code),
    }))
}

/// `POST /v1/operators/{id}/approvals/deny` (operator-signed).
pub async fn deny(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<ApprovalDecision>> {
    let body: DenyRequest = req.request.json()?;
    let now = state.clock.now();
    let decided = device::deny(&state, &req.operator, &body.user_code, METHOD_CLI_KEY, now).await?;
    Ok(Json(ApprovalDecision {
        agent_status: agent_status(&decided),
        did: decided.did.to_string(),
        remembered_grant: None,
        resource: decided.resource.clone(),
        scopes: Vec::new(),
        status: decided.status.as_str().to_owned(),
        user_code: device::display_code(&decided.user_code),
    }))
}

/// `GET /v1/operators/{id}/grants` (operator-signed): remembered grants in force, newest first.
pub async fn grants(
    State(state): State<AppState>,
    Query(query): Query<AgentListQuery>,
    req: OperatorSigned,
) -> AppResult<Json<GrantList>> {
    let (grants, next_cursor) = device::grants(
        &state,
        &req.operator,
        state.clock.now(),
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    Ok(Json(GrantList {
        grants: grants.iter().map(grant_view).collect(),
        next_cursor,
    }))
}

/// `POST /v1/operators/{id}/grants/revoke` (operator-signed).
pub async fn revoke_grant(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<auth4agent_api::RememberedGrant>> {
    let body: RevokeGrantRequest = req.request.json()?;
    let now = state.clock.now();
    let grant = device::revoke_grant(&state, &req.operator, &body.grant_id, now).await?;
    Ok(Json(grant_view(&grant)))
}
