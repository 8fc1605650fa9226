//! Registrations that ask for scopes (`auth4agent login`): the agent registers with the scopes it needs and a
//! name, and its registration enters the operator's approval queue as a request of kind `registration`, beside
//! the device authorizations ([`register`]). The operator approves it (possibly with fewer scopes) or denies it
//! through [`super::device::approve`] / [`super::device::deny`]; the decision settles the pending agent
//! ([`super::agents::settle_registration`]: active with the approved scopes, or revoked; an expired request
//! revokes it too). The agent follows its request with its own signed `GET /v1/agents/{did}` ([`follow`]),
//! which also expires an overdue request and settles a decision whose second step was lost.

use auth4agent_api::ErrorCode;
use auth4agent_protocol::{PublicKey, ScopeSet, check_binding_message, sha256_b64url};

use super::device::{self, POLL_INTERVAL};
use super::{ServiceError, ServiceResult, agents, audit};
use crate::ids;
use crate::state::AppState;
use crate::store::{
    Agent, AgentStatus, ApprovalKind, DeviceAuthorization, DeviceStatus, Operator, StoreError,
    UnixTime,
};

/// What a registering agent asks its operator for.
#[derive(Debug, Clone)]
pub struct Ask {
    /// Empty when the agent leaves its scopes to the operator: the approval then names them.
    pub scopes: ScopeSet,
    /// 1 to 64 printable characters, when given.
    pub name: Option<String>,
}

impl Ask {
    /// The ask of a registration body: `None` without `requested_scopes` (the old path: the agent waits for
    /// the operator's `PUT /v1/agents/{did}/scopes`). A name without scopes is refused, as it would be lost.
    pub fn parse(scopes: Option<&[String]>, name: Option<&str>) -> ServiceResult<Option<Ask>> {
        let Some(scopes) = scopes else {
            return match name {
                Some(_) => Err(ServiceError::refused(
                    ErrorCode::InvalidRequest,
                    "name is shown with a registration request: give requested_scopes too",
                )),
                None => Ok(None),
            };
        };
        let scopes = ScopeSet::from_list(scopes)
            .map_err(|e| ServiceError::refused(ErrorCode::InvalidScope, e.to_string()))?;
        if let Some(name) = name {
            check_binding_message(name).map_err(|e| {
                ServiceError::refused(ErrorCode::InvalidRequest, format!("name: {e}"))
            })?;
        }
        Ok(Some(Ask {
            scopes,
            name: name.map(str::to_owned),
        }))
    }
}

/// Registers the agent holding `key` under `operator` ([`agents::register`]: pending) and, with an `ask`,
/// puts its registration in the operator's approval queue. Returns the agent and its request.
pub async fn register(
    state: &AppState,
    operator: &Operator,
    key: PublicKey,
    ask: Option<Ask>,
    now: UnixTime,
) -> ServiceResult<(Agent, Option<DeviceAuthorization>)> {
    let agent = agents::register(state, operator, key, now).await?;
    let Some(ask) = ask else {
        return Ok((agent, None));
    };
    let request = enqueue(state, &agent, ask, now).await?;
    Ok((agent, Some(request)))
}

/// Stores the registration request of a new pending agent, with its audit row.
async fn enqueue(
    state: &AppState,
    agent: &Agent,
    ask: Ask,
    now: UnixTime,
) -> ServiceResult<DeviceAuthorization> {
    let ttl = state.config.device_code_ttl;
    for _ in 0..3 {
        let user_code = ids::user_code();
        // The agent follows its request by its DID; the device code is drawn only to key the row.
        let request = DeviceAuthorization {
            kind: ApprovalKind::Registration,
            agent_name: ask.name.clone(),
            device_code_hash: sha256_b64url(ids::device_code().as_bytes()),
            user_code: user_code.as_str().to_owned(),
            did: agent.did.clone(),
            operator_id: agent.operator_id.clone(),
            scopes: ask.scopes.clone(),
            resource: String::new(),
            binding_message: None,
            status: DeviceStatus::Pending,
            granted_scopes: ScopeSet::default(),
            decided_by: None,
            interval: POLL_INTERVAL,
            last_poll_at: None,
            slow_down_at: None,
            created_at: now,
            expires_at: now.saturating_add(ttl),
            decided_at: None,
        };
        let event = audit::event(
            now,
            agent.did.as_str(),
            "registration.request",
            &user_code.display(),
            format!(
                "did={} scope={:?} name={:?}",
                agent.did,
                ask.scopes.to_scope_string(),
                ask.name.as_deref().unwrap_or(""),
            ),
        );
        match state
            .store
            .insert_device_authorization(request.clone(), event)
            .await
        {
            Ok(()) => return Ok(request),
            // A user code drawn twice: draw again.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::internal(
        "could not draw a free user code in three attempts",
    ))
}

/// The agent as it stands, with its registration request if it has one: an overdue pending request is
/// expired first (which revokes the agent), and a decided request whose agent is still pending is settled.
pub async fn follow(
    state: &AppState,
    agent: Agent,
    now: UnixTime,
) -> ServiceResult<(Agent, Option<DeviceAuthorization>)> {
    let Some(mut request) = state.store.get_registration_request(&agent.did).await? else {
        return Ok((agent, None));
    };
    if request.status == DeviceStatus::Pending && request.expires_at <= now {
        device::expire(state, now).await?;
        request = state
            .store
            .get_registration_request(&agent.did)
            .await?
            .unwrap_or(request);
    }
    let agent = if request.status != DeviceStatus::Pending && agent.status == AgentStatus::Pending {
        agents::settle_registration(state, &request, &request.operator_id, now).await?
    } else {
        agent
    };
    Ok((agent, Some(request)))
}
