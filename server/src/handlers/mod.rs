//! HTTP handlers, one module per resource, plus the JSON views and audit helper they share.

pub mod agents;
pub mod health;
pub mod operators;
pub mod tokens;
pub mod wellknown;

use auth4agent_protocol::{Did, PublicKey, did_document};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::errors::{AppError, AppResult};
use crate::store::{Agent, AuditEvent, Operator, OperatorStatus};

/// Whether an operator's domain proof is current at `now` (a verification past its expiry counts
/// as none until re-verified).
pub fn operator_verified(op: &Operator, now: u64) -> bool {
    op.status == OperatorStatus::Verified && op.verification_expires_at.is_some_and(|t| t > now)
}

/// The operator object as of `now`: `status` is `verified` only while the verification is current
/// (a lapsed one shows `unverified`, with the times of the verification that lapsed).
pub fn operator_view(op: &Operator, now: u64) -> Value {
    json!({
        "id": op.id,
        "domain": op.domain,
        "status": effective_status(op, now),
        "domain_verified_at": op.domain_verified_at,
        "verification_expires_at": op.verification_expires_at,
        "created_at": op.created_at,
    })
}

/// The operator status as reported (`verified` only while current).
pub fn effective_status(op: &Operator, now: u64) -> &'static str {
    if operator_verified(op, now) {
        "verified"
    } else {
        "unverified"
    }
}

/// Refuses token issuance while the operator's domain is not proven now (`operator_not_verified`).
pub fn require_verified(op: &Operator, now: u64) -> AppResult<()> {
    if operator_verified(op, now) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "operator_not_verified",
            format!(
                "operator {} has no current DNS verification of {}",
                op.id, op.domain
            ),
        ))
    }
}

/// The agent object, with its DID document.
pub fn agent_view(agent: &Agent) -> AppResult<Value> {
    let did = Did::parse(&agent.did)
        .map_err(|e| AppError::internal(format!("stored DID is invalid: {e}")))?;
    let key = stored_key(&agent.public_key)?;
    Ok(json!({
        "did": agent.did,
        "operator_id": agent.operator_id,
        "status": agent.status.as_str(),
        "allowed_scopes": agent.allowed_scopes,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
        "revoked_at": agent.revoked_at,
        "did_document": did_document(&did, &key),
    }))
}

/// A public key read back from storage.
pub fn stored_key(bytes: &[u8; 32]) -> AppResult<PublicKey> {
    PublicKey::from_bytes(bytes)
        .map_err(|e| AppError::internal(format!("stored public key is invalid: {e}")))
}

/// Loads an operator or answers `operator_not_found`.
pub async fn load_operator(state: &AppState, id: &str) -> AppResult<Operator> {
    state
        .store
        .get_operator(id)
        .await?
        .ok_or_else(|| AppError::not_found("operator_not_found", format!("no operator {id:?}")))
}

/// Parses a DID from a path or body, or answers `invalid_did`.
pub fn parse_did(s: &str) -> AppResult<Did> {
    Did::parse(s).map_err(|e| AppError::bad_request("invalid_did", e.to_string()))
}

/// Loads an agent or answers `agent_not_found`.
pub async fn load_agent(state: &AppState, did: &Did) -> AppResult<Agent> {
    state
        .store
        .get_agent(did.as_str())
        .await?
        .ok_or_else(|| AppError::not_found("agent_not_found", format!("no agent {did}")))
}

/// Appends to the audit log. A failed append is logged, never turned into a client error after the
/// action itself has happened.
pub async fn audit(
    state: &AppState,
    actor: &str,
    action: &str,
    subject: &str,
    detail: impl Into<String>,
) {
    let event = audit_event(state, actor, action, subject, detail);
    if let Err(e) = state.store.append_audit(event).await {
        tracing::error!(error = %e, action, subject, "could not append to the audit log");
    }
}

/// An audit event as of now, also written to the log; the caller stores it (see [`audit`]).
pub fn audit_event(
    state: &AppState,
    actor: &str,
    action: &str,
    subject: &str,
    detail: impl Into<String>,
) -> AuditEvent {
    let event = AuditEvent {
        at: state.clock.now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail: detail.into(),
    };
    tracing::info!(target: "audit", actor, action, subject, detail = %event.detail, "audit");
    event
}
