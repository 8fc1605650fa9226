//! HTTP handlers, one module per resource: each extracts its request (see [`crate::auth`]), calls
//! one service function and maps the result to a response. The JSON views they share live here.

pub mod agents;
pub mod approvals;
pub mod console;
pub mod health;
pub mod oauth;
pub mod operators;
pub mod status_lists;
pub mod tokens;
pub mod wellknown;

use auth4agent_api as api;
use auth4agent_protocol::did_document;

use crate::service::operators::is_verified;
use crate::store::{Agent, Operator};

/// The operator object as of `now`: `status` is `verified` only while the verification is current
/// (a lapsed one shows `unverified`, with the times of the verification that lapsed).
pub fn operator_view(op: &Operator, now: u64) -> api::Operator {
    api::Operator {
        id: op.id.clone(),
        domain: op.domain.to_string(),
        status: if is_verified(op, now) {
            api::OperatorStatus::Verified
        } else {
            api::OperatorStatus::Unverified
        },
        domain_verified_at: op.domain_verified_at,
        verification_expires_at: op.verification_expires_at,
        created_at: op.created_at,
    }
}

/// The agent object, with its DID document.
pub fn agent_view(agent: &Agent) -> api::Agent {
    api::Agent {
        did: agent.did.to_string(),
        operator_id: agent.operator_id.clone(),
        status: agent.status,
        allowed_scopes: agent.allowed_scopes.to_vec(),
        approval_scopes: agent.approval_scopes.to_vec(),
        created_at: agent.created_at,
        updated_at: agent.updated_at,
        revoked_at: agent.revoked_at,
        did_document: did_document(&agent.did, &agent.public_key),
    }
}
