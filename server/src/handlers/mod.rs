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

use crate::service::device;
use crate::service::operators::is_verified;
use crate::state::AppState;
use crate::store::{Agent, DeviceAuthorization, Operator};

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
        registration: None,
    }
}

/// The agent object with where its registration request stands (an agent registered asking for scopes).
pub fn registered_agent_view(
    state: &AppState,
    agent: &Agent,
    request: Option<&DeviceAuthorization>,
) -> api::Agent {
    let mut view = agent_view(agent);
    view.registration = request.map(|r| {
        let code = auth4agent_protocol::UserCode::parse(&r.user_code);
        let (uri, complete) = code
            .as_ref()
            .map(|c| device::verification_uris(state, c))
            .unwrap_or_default();
        api::AgentRegistration {
            expires_at: r.expires_at,
            granted_scopes: r.granted_scopes.to_vec(),
            interval: r.interval,
            name: r.agent_name.clone(),
            requested_scopes: r.scopes.to_vec(),
            status: r.status.as_str().to_owned(),
            user_code: device::display_code(&r.user_code),
            verification_uri: uri,
            verification_uri_complete: complete,
        }
    });
    view
}
