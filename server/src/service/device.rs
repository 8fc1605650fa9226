//! The device authorization grant (RFC 8628) and its approvals: an agent asks for scopes at
//! `POST /oauth/device_authorization` ([`authorize`]), authenticated like the token endpoint; its operator
//! approves (possibly narrowing the scopes, possibly remembering the approval for a while) or denies it
//! ([`approve`], [`deny`]); the agent polls the token endpoint ([`poll`]) and gets one token, through
//! [`issuance::grant`]. A request made only of allowed scopes, or of scopes a remembered grant covers, is
//! approved at once. Every state change is one conditional statement of the store. The same queue holds
//! registrations that asked for scopes (kind `registration`, [`super::registrations`]): a decision or an
//! expiry of one then settles its pending agent ([`agents::settle_registration`]); `remember` does not apply.

use std::time::Duration;

use auth4agent_api::{DeviceAuthorizationForm, ErrorCode, routes};
use auth4agent_protocol::{ScopeSet, UserCode, sha256_b64url};

use super::client_credentials::{self, AuthenticatedClient};
use super::dpop::{self, DpopHeader};
use super::issuance::{self, Grant, IssuedToken, Redemption};
use super::operators::require_verified;
use super::refusals::{device_code_expired, device_code_used};
use super::{ServiceError, ServiceResult, agents, audit, pages};
use crate::ids;
use crate::state::AppState;
use crate::store::{
    AgentStatus, ApprovalKind, DeviceAuthorization, DeviceDecision, DeviceStatus, Operator,
    RememberedGrant, StoreError, UnixTime,
};

/// Seconds between polls that RFC 8628 §3.2 suggests; each `slow_down` adds 5.
pub const POLL_INTERVAL: u64 = 5;
/// Longest `remember` of an approval: 30 days.
pub const MAX_REMEMBER: u64 = 30 * 86_400;
/// How long a finished device authorization is kept (so a late poll still gets `expired_token`).
const KEEP_AFTER_EXPIRY: u64 = 86_400;
/// The approving method of an operator-signed request.
pub const METHOD_CLI_KEY: &str = "cli_key";
/// A request made only of allowed scopes.
const METHOD_POLICY: &str = "policy";
/// A request covered by a remembered grant.
const METHOD_REMEMBERED: &str = "remembered_grant";

/// What the agent is told when a device authorization starts.
#[derive(Debug, Clone)]
pub struct Started {
    pub device_code: String,
    pub user_code: UserCode,
    pub expires_in: u64,
    pub interval: u64,
    /// Approved at once (allowed scopes only, or a remembered grant).
    pub approved: bool,
}

fn unknown_device_code() -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidGrant,
        "no device authorization of this client has this device code",
    )
}

/// Starts a device authorization: the assertion verified and consumed, the scopes checked against the
/// agent's allowed and approval scopes, the request stored with its audit row.
pub async fn authorize(
    state: &AppState,
    form: DeviceAuthorizationForm,
    now: UnixTime,
) -> ServiceResult<Started> {
    let assertion = client_credentials::decode(&form.client_assertion, form.client_id.as_deref())?;
    let scope = client_credentials::resource_and_scope(&form.resource, form.scope.as_deref())?;
    let client =
        client_credentials::authenticate(state, assertion, client_credentials::Rows::Current, now)
            .await?;
    let AuthenticatedClient {
        agent, operator, ..
    } = &client;
    if agent.status != AgentStatus::Active {
        return Err(ServiceError::refused(
            ErrorCode::AgentNotActive,
            format!("agent is {}", agent.status),
        ));
    }
    require_verified(operator, now)?;
    let requested = match scope {
        Some(scope) if !scope.is_empty() => scope,
        _ if agent.allowed_scopes.is_empty() => {
            return Err(ServiceError::refused(
                ErrorCode::ScopeNotAllowed,
                "the agent is allowed no scope",
            ));
        }
        _ => agent.allowed_scopes.clone(),
    };
    let approvable = agent.allowed_scopes.union(&agent.approval_scopes);
    if let Some(scope) = requested.first_not_in(&approvable) {
        return Err(ServiceError::refused(
            ErrorCode::ScopeNotAllowed,
            format!("scope {scope:?} is neither allowed nor approvable for this agent"),
        ));
    }
    client.consume(state).await?;

    // Approved at once when nothing needs an approval, or remembered grants cover what does.
    let mut decided_by = None;
    if requested.is_subset_of(&agent.allowed_scopes) {
        decided_by = Some(METHOD_POLICY);
    } else {
        let remembered = state
            .store
            .active_remembered_grants(&agent.did, &form.resource, now)
            .await?
            .iter()
            .fold(agent.allowed_scopes.clone(), |acc, g| acc.union(&g.scopes));
        if requested.is_subset_of(&remembered) {
            decided_by = Some(METHOD_REMEMBERED);
        }
    }
    let ttl = state.config.device_code_ttl;
    for _ in 0..3 {
        let device_code = ids::device_code();
        let user_code = ids::user_code();
        let authorization = DeviceAuthorization {
            kind: ApprovalKind::DeviceAuthorization,
            agent_name: None,
            device_code_hash: sha256_b64url(device_code.as_bytes()),
            user_code: user_code.as_str().to_owned(),
            did: agent.did.clone(),
            operator_id: operator.id.clone(),
            scopes: requested.clone(),
            resource: form.resource.clone(),
            binding_message: form.binding_message.clone(),
            status: if decided_by.is_some() {
                DeviceStatus::Approved
            } else {
                DeviceStatus::Pending
            },
            granted_scopes: if decided_by.is_some() {
                requested.clone()
            } else {
                ScopeSet::default()
            },
            decided_by: decided_by.map(str::to_owned),
            interval: POLL_INTERVAL,
            last_poll_at: None,
            slow_down_at: None,
            created_at: now,
            expires_at: now.saturating_add(ttl),
            decided_at: decided_by.map(|_| now),
        };
        let event = audit::event(
            now,
            agent.did.as_str(),
            "device.request",
            &user_code.display(),
            format!(
                "scope={:?} resource={:?} binding_message={:?} decided_by={}",
                requested.to_scope_string(),
                form.resource,
                form.binding_message.as_deref().unwrap_or(""),
                decided_by.unwrap_or("pending"),
            ),
        );
        match state
            .store
            .insert_device_authorization(authorization, event)
            .await
        {
            Ok(()) => {
                return Ok(Started {
                    device_code,
                    user_code,
                    expires_in: ttl,
                    interval: POLL_INTERVAL,
                    approved: decided_by.is_some(),
                });
            }
            // A user code drawn twice: draw again.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::internal(
        "could not draw a free user code in three attempts",
    ))
}

/// The approval page of a user code: `verification_uri` and `verification_uri_complete`.
pub fn verification_uris(state: &AppState, user_code: &UserCode) -> (String, String) {
    let uri = state.url(routes::CONSOLE_APPROVE);
    let complete = format!("{uri}?user_code={}", user_code.display());
    (uri, complete)
}

/// A device_code token request (RFC 8628 §3.4).
pub struct DevicePoll<'a> {
    pub client_assertion: &'a str,
    pub client_id: Option<&'a str>,
    pub device_code: &'a str,
}

/// One poll of the token endpoint with the device_code grant (RFC 8628 §3.4, §3.5).
pub async fn poll(
    state: &AppState,
    poll: DevicePoll<'_>,
    dpop: &DpopHeader,
    now: UnixTime,
) -> ServiceResult<IssuedToken> {
    let assertion = client_credentials::decode(poll.client_assertion, poll.client_id)?;
    let client =
        client_credentials::authenticate(state, assertion, client_credentials::Rows::Current, now)
            .await?;
    client.consume(state).await?;
    let device_code = poll.device_code;
    let hash = sha256_b64url(device_code.as_bytes());
    let authorization = state
        .store
        .poll_device_authorization(&hash, &client.agent.did, now)
        .await?
        .ok_or_else(unknown_device_code)?;
    match authorization.status {
        DeviceStatus::Pending if authorization.expires_at <= now => {
            expire(state, now).await?;
            Err(device_code_expired())
        }
        DeviceStatus::Pending if authorization.slow_down_at == Some(now) => {
            Err(ServiceError::refused(
                ErrorCode::SlowDown,
                format!(
                    "polled before the interval elapsed; wait {} s between polls",
                    authorization.interval
                ),
            ))
        }
        DeviceStatus::Pending => Err(ServiceError::refused(
            ErrorCode::AuthorizationPending,
            "waiting for the operator's approval",
        )),
        DeviceStatus::Expired => Err(device_code_expired()),
        DeviceStatus::Denied => Err(ServiceError::refused(
            ErrorCode::AccessDenied,
            "the operator denied this request",
        )),
        DeviceStatus::Consumed => Err(device_code_used()),
        DeviceStatus::Approved if authorization.expires_at <= now => Err(device_code_expired()),
        DeviceStatus::Approved => {
            let dpop_bound = dpop::bind(
                state,
                dpop,
                routes::OAUTH_TOKEN,
                &client.agent.thumbprint,
                now,
            )
            .await?;
            let request = Grant {
                agent: &client.agent,
                operator: &client.operator,
                read_at: client.read_at,
                scope: Some(authorization.granted_scopes.clone()),
                audience: authorization.resource.clone(),
                ttl: None,
                dpop_bound,
            };
            let redemption = Redemption::DeviceCode {
                hash: &hash,
                did: &client.agent.did,
            };
            issuance::grant(state, request, redemption, now).await
        }
    }
}

/// The audit action of `verb` on a request of this kind: `device.VERB` or `registration.VERB`.
fn action(kind: ApprovalKind, verb: &str) -> String {
    match kind {
        ApprovalKind::DeviceAuthorization => format!("device.{verb}"),
        ApprovalKind::Registration => format!("registration.{verb}"),
    }
}

/// Marks pending requests past their expiry expired, with one audit row each; an expired registration
/// revokes its pending agent.
pub(crate) async fn expire(state: &AppState, now: UnixTime) -> ServiceResult<()> {
    for a in state.store.expire_device_authorizations(now).await? {
        if a.kind == ApprovalKind::Registration {
            agents::settle_registration(state, &a, "server", now).await?;
        }
        audit::record(
            state,
            now,
            "server",
            &action(a.kind, "expire"),
            &display_code(&a.user_code),
            format!(
                "did={} scope={:?} resource={:?}",
                a.did,
                a.scopes.to_scope_string(),
                a.resource
            ),
        )
        .await;
    }
    Ok(())
}

/// The background pass: expires pending requests, then deletes requests a day past their expiry and
/// remembered grants past theirs.
pub async fn expire_and_purge(state: &AppState, now: UnixTime) -> Result<u64, StoreError> {
    expire(state, now).await.map_err(|e| match e {
        ServiceError::Storage(e) => e,
        e => StoreError::Unavailable(e.to_string()),
    })?;
    state
        .store
        .purge_device_state(now.saturating_sub(KEEP_AFTER_EXPIRY), now)
        .await
}

/// `XXXX-XXXX` of a stored (normalized) user code.
pub fn display_code(stored: &str) -> String {
    UserCode::parse(stored).map_or_else(|_| stored.to_owned(), |c| c.display())
}

/// One page of the operator's pending requests (oldest first, after `cursor`) and the next page's cursor; with
/// `wait`, waits up to that long (checking every second, so a request made through another replica is seen)
/// until the page has one.
pub async fn pending(
    state: &AppState,
    operator: &Operator,
    wait: Duration,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> ServiceResult<(Vec<DeviceAuthorization>, Option<String>)> {
    let limit = pages::limit(limit)?;
    let after = cursor.map(|c| pages::decode(c, "")).transpose()?.flatten();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let now = state.clock.now();
        let page = state
            .store
            .list_pending_device_authorizations(&operator.id, now, after.clone(), limit + 1)
            .await?;
        if !page.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(pages::cut(page, limit, |a| {
                pages::encode("", a.created_at, &a.user_code)
            }));
        }
        tokio::time::sleep(Duration::from_secs(1).min(deadline - tokio::time::Instant::now()))
            .await;
    }
}

/// The longest long-poll: a second under the request timeout, so the answer beats the timeout.
pub fn max_wait(state: &AppState) -> Duration {
    state
        .config
        .request_timeout
        .saturating_sub(Duration::from_secs(1))
}

/// Looks a user code up for `operator`: rate-limited on failures (per operator and globally), and a
/// code of another operator's agent is as unknown as a code that does not exist.
async fn lookup(
    state: &AppState,
    operator: &Operator,
    user_code: &str,
) -> ServiceResult<DeviceAuthorization> {
    let code = UserCode::parse(user_code)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidUserCode, e.to_string()))?;
    let now_ms = state.monotonic_ms();
    if !state.user_code_lookups.allows(&operator.id, now_ms) {
        return Err(ServiceError::refused(
            ErrorCode::RateLimited,
            "too many unknown user codes; wait before trying again",
        ));
    }
    match state.store.get_device_authorization(code.as_str()).await? {
        Some(a) if a.operator_id == operator.id => Ok(a),
        _ => {
            state.user_code_lookups.failed(&operator.id, now_ms);
            Err(ServiceError::refused(
                ErrorCode::ApprovalNotFound,
                format!("no device authorization of this operator has the user code {code}"),
            ))
        }
    }
}

fn decision_error(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::refused(
            ErrorCode::ApprovalNotFound,
            "no device authorization of this operator has this user code",
        ),
        StoreError::AlreadyUsed => ServiceError::refused(
            ErrorCode::ApprovalDecided,
            "this request was already approved or denied",
        ),
        StoreError::Expired => ServiceError::refused(
            ErrorCode::ApprovalExpired,
            "this request expired before it was decided",
        ),
        e => e.into(),
    }
}

/// Checks that a looked-up request can still be decided at `now`.
fn ensure_pending(a: &DeviceAuthorization, now: UnixTime) -> ServiceResult<()> {
    match a.status {
        DeviceStatus::Pending if a.expires_at > now => Ok(()),
        DeviceStatus::Pending | DeviceStatus::Expired => Err(decision_error(StoreError::Expired)),
        _ => Err(decision_error(StoreError::AlreadyUsed)),
    }
}

/// Approves a pending request of one of the operator's agents with `scopes` (a non-empty subset of those
/// requested; `None`: all of them; for a registration that asked for none, whatever the operator names),
/// remembering the approval `remember` seconds if asked.
pub async fn approve(
    state: &AppState,
    operator: &Operator,
    user_code: &str,
    scopes: Option<ScopeSet>,
    remember: Option<u64>,
    method: &str,
    now: UnixTime,
) -> ServiceResult<(DeviceAuthorization, Option<RememberedGrant>)> {
    require_verified(operator, now)?;
    let request = lookup(state, operator, user_code).await?;
    ensure_pending(&request, now)?;
    if request.kind == ApprovalKind::Registration {
        if remember.is_some() {
            return Err(ServiceError::refused(
                ErrorCode::InvalidRequest,
                "remember does not apply to a registration: the approved scopes become the agent's allowed scopes",
            ));
        }
        ensure_agent_pending(state, &request).await?;
    }
    let granted = scopes.unwrap_or_else(|| request.scopes.clone());
    // A registration that asked for no scopes leaves them to the operator: the approval names them (or none,
    // to set them later with the agent's scopes), and there is no request to narrow.
    let open_registration = request.kind == ApprovalKind::Registration && request.scopes.is_empty();
    if granted.is_empty() && !open_registration {
        return Err(ServiceError::refused(
            ErrorCode::InvalidScope,
            "approve at least one scope (or deny the request)",
        ));
    }
    if !open_registration && let Some(scope) = granted.first_not_in(&request.scopes) {
        return Err(ServiceError::refused(
            ErrorCode::InvalidScope,
            format!("scope {scope:?} was not requested; an approval can only narrow the request"),
        ));
    }
    let remember = match remember {
        None => None,
        Some(secs) if secs == 0 || secs > MAX_REMEMBER => {
            return Err(ServiceError::refused(
                ErrorCode::InvalidTtl,
                format!("remember must be between 1 s and {MAX_REMEMBER} s (30 days)"),
            ));
        }
        Some(secs) => Some(RememberedGrant {
            id: ids::grant_id(),
            did: request.did.clone(),
            operator_id: operator.id.clone(),
            resource: request.resource.clone(),
            scopes: granted.clone(),
            created_at: now,
            expires_at: now.saturating_add(secs),
            revoked_at: None,
        }),
    };
    let event = audit::event(
        now,
        &operator.id,
        &action(request.kind, "approve"),
        &display_code(&request.user_code),
        format!(
            "method={method} did={} scope={:?} requested={:?} resource={:?} remember={}",
            request.did,
            granted.to_scope_string(),
            request.scopes.to_scope_string(),
            request.resource,
            remember.as_ref().map_or_else(
                || "none".to_owned(),
                |g| format!("{} until {}", g.id, g.expires_at)
            ),
        ),
    );
    let decision = DeviceDecision::Approve {
        scopes: granted,
        method: method.to_owned(),
        remember: remember.clone(),
    };
    let decided = state
        .store
        .decide_device_authorization(&operator.id, &request.user_code, decision, now, event)
        .await
        .map_err(decision_error)?;
    if decided.kind == ApprovalKind::Registration {
        agents::settle_registration(state, &decided, &operator.id, now).await?;
    }
    Ok((decided, remember))
}

/// A registration is decided only while its agent is pending (an operator may have approved it by
/// `PUT /v1/agents/{did}/scopes`, or revoked it, meanwhile).
async fn ensure_agent_pending(
    state: &AppState,
    request: &DeviceAuthorization,
) -> ServiceResult<()> {
    let agent = agents::load(state, &request.did).await?;
    if agent.status == AgentStatus::Pending {
        return Ok(());
    }
    Err(ServiceError::refused(
        ErrorCode::ApprovalDecided,
        format!(
            "agent {} is already {}: its registration request needs no decision",
            agent.did, agent.status
        ),
    ))
}

/// Denies a pending request of one of the operator's agents.
pub async fn deny(
    state: &AppState,
    operator: &Operator,
    user_code: &str,
    method: &str,
    now: UnixTime,
) -> ServiceResult<DeviceAuthorization> {
    let request = lookup(state, operator, user_code).await?;
    ensure_pending(&request, now)?;
    let event = audit::event(
        now,
        &operator.id,
        &action(request.kind, "deny"),
        &display_code(&request.user_code),
        format!(
            "method={method} did={} scope={:?} resource={:?}",
            request.did,
            request.scopes.to_scope_string(),
            request.resource
        ),
    );
    let decision = DeviceDecision::Deny {
        method: method.to_owned(),
    };
    let decided = state
        .store
        .decide_device_authorization(&operator.id, &request.user_code, decision, now, event)
        .await
        .map_err(decision_error)?;
    if decided.kind == ApprovalKind::Registration {
        agents::settle_registration(state, &decided, &operator.id, now).await?;
    }
    Ok(decided)
}

/// One page of the operator's remembered grants in force (newest first, after `cursor`) and the next page's
/// cursor.
pub async fn grants(
    state: &AppState,
    operator: &Operator,
    now: UnixTime,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> ServiceResult<(Vec<RememberedGrant>, Option<String>)> {
    let limit = pages::limit(limit)?;
    let after = cursor.map(|c| pages::decode(c, "")).transpose()?.flatten();
    let page = state
        .store
        .list_remembered_grants(&operator.id, now, after, limit + 1)
        .await?;
    Ok(pages::cut(page, limit, |g| {
        pages::encode("", g.created_at, &g.id)
    }))
}

/// Revokes one of the operator's remembered grants.
pub async fn revoke_grant(
    state: &AppState,
    operator: &Operator,
    id: &str,
    now: UnixTime,
) -> ServiceResult<RememberedGrant> {
    let grant = state
        .store
        .revoke_remembered_grant(&operator.id, id, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::refused(
                ErrorCode::GrantNotFound,
                format!("no remembered grant {id:?} of this operator is in force"),
            ),
            e => e.into(),
        })?;
    audit::record(
        state,
        now,
        &operator.id,
        "grant.revoke",
        &grant.id,
        format!(
            "did={} scope={:?} resource={:?}",
            grant.did,
            grant.scopes.to_scope_string(),
            grant.resource
        ),
    )
    .await;
    Ok(grant)
}
