//! HTTP handlers, one module per resource: each extracts its request (see [`crate::auth`]), calls
//! one service function and maps the result to a response. The JSON views they share live here.

pub mod agents;
pub mod health;
pub mod operators;
pub mod tokens;
pub mod wellknown;

use auth4agent_protocol::{Did, PublicKey, did_document};
use serde_json::{Value, json};

use crate::errors::{AppError, AppResult};
use crate::service::operators::effective_status;
use crate::store::{Agent, Operator};

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

/// The agent object, with its DID document.
pub fn agent_view(agent: &Agent) -> AppResult<Value> {
    let did = Did::parse(&agent.did)
        .map_err(|e| AppError::internal(format!("stored DID is invalid: {e}")))?;
    let key = PublicKey::from_bytes(&agent.public_key)
        .map_err(|e| AppError::internal(format!("stored public key is invalid: {e}")))?;
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
