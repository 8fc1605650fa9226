//! The browser operator console: a one-time login link asked for with the operator key
//! ([`create_link`]), opened once into a server-side session ([`open_session`]: 15 min idle, 8 h at most,
//! only hashes of the link token and of the session id stored, so it works across replicas), the session
//! looked up on every page ([`authenticate`]), the per-session CSRF token of every form ([`check_csrf`]),
//! sign-out, what the pages show ([`overview`]) and the browser's decisions, made through the same
//! [`device::approve`] and [`device::deny`] as the CLI's, with the approving method recorded; once the
//! operator has a passkey ([`passkeys`]), a browser approval needs a fresh assertion of it, and a passkey
//! alone opens a session ([`open_passkey_session`]).

use auth4agent_api::{ErrorCode, routes};
use auth4agent_protocol::{ScopeSet, constant_time_eq, sha256_b64url};

use super::passkeys::{self, Answer, PURPOSE_APPROVE, PURPOSE_LOGIN};
use super::{ServiceError, ServiceResult, audit, device};
use crate::ids;
use crate::state::AppState;
use crate::store::{
    Agent, AuditEvent, ConsoleLink, ConsoleSession, DeviceAuthorization, Operator, RememberedGrant,
    StoreError, UnixTime,
};

/// Seconds a login link stays valid.
pub const LINK_TTL: u64 = 60;
/// Seconds a session may stay unused.
pub const SESSION_IDLE: u64 = 15 * 60;
/// Seconds a session lasts at most, however active.
pub const SESSION_MAX: u64 = 8 * 3600;
/// The approving method of a decision made in a console session (an operator without passkeys).
pub const METHOD_BROWSER_SESSION: &str = "browser_session";
/// The approving method of a browser approval confirmed with a fresh passkey assertion.
pub const METHOD_PASSKEY: &str = "passkey";
/// How a session opened from a login link is recorded.
const OPENED_BY_LINK: &str = "login_link";
/// Audit events a page shows.
const AUDIT_PAGE: u32 = 50;

/// A login link, as given to the operator once.
#[derive(Debug, Clone)]
pub struct LoginLink {
    pub url: String,
    pub expires_at: UnixTime,
}

/// Makes a one-time login link for `operator` (whose signed request was verified).
pub async fn create_link(
    state: &AppState,
    operator: &Operator,
    now: UnixTime,
) -> ServiceResult<LoginLink> {
    let token = ids::console_secret();
    let link_hash = sha256_b64url(token.as_bytes());
    let expires_at = now.saturating_add(LINK_TTL);
    state
        .store
        .insert_console_link(ConsoleLink {
            link_hash: link_hash.clone(),
            operator_id: operator.id.clone(),
            created_at: now,
            expires_at,
        })
        .await?;
    audit::record(
        state,
        now,
        &operator.id,
        "console.link",
        &operator.id,
        format!("link={} expires_at={expires_at}", &link_hash[..12]),
    )
    .await;
    Ok(LoginLink {
        url: format!("{}?token={token}", state.url(routes::CONSOLE_LOGIN)),
        expires_at,
    })
}

/// A session just opened: the id goes into the cookie (and nowhere else); only its hash is stored.
#[derive(Debug)]
pub struct OpenedSession {
    pub session_id: String,
    pub session: ConsoleSession,
}

fn new_session(method: &str, now: UnixTime) -> (String, ConsoleSession) {
    let session_id = ids::console_secret();
    let session = ConsoleSession {
        session_hash: sha256_b64url(session_id.as_bytes()),
        operator_id: String::new(),
        csrf_token: ids::console_secret(),
        method: method.to_owned(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.saturating_add(SESSION_MAX),
    };
    (session_id, session)
}

async fn audit_login(state: &AppState, session: &ConsoleSession, now: UnixTime) {
    audit::record(
        state,
        now,
        &session.operator_id,
        "console.login",
        &session.operator_id,
        format!(
            "method={} session={}",
            session.method,
            &session.session_hash[..12]
        ),
    )
    .await;
}

/// Opens a session with a passkey alone: the answer to a login ceremony, with user verification.
pub async fn open_passkey_session(
    state: &AppState,
    answer: Answer<'_>,
    now: UnixTime,
) -> ServiceResult<OpenedSession> {
    let operator_id = passkeys::finish_assertion(state, None, PURPOSE_LOGIN, answer, now).await?;
    let (session_id, draft) = new_session(METHOD_PASSKEY, now);
    let session = ConsoleSession {
        operator_id,
        ..draft
    };
    state.store.insert_console_session(session.clone()).await?;
    audit_login(state, &session, now).await;
    Ok(OpenedSession {
        session_id,
        session,
    })
}

/// Opens a session from a login link's token: the link is consumed in the same transaction, once,
/// across replicas.
pub async fn open_session(
    state: &AppState,
    token: &str,
    now: UnixTime,
) -> ServiceResult<OpenedSession> {
    let (session_id, draft) = new_session(OPENED_BY_LINK, now);
    let link_hash = sha256_b64url(token.as_bytes());
    let session = state
        .store
        .redeem_console_link(&link_hash, now, draft)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::refused(
                ErrorCode::LoginLinkNotFound,
                "this is not a console login link of this server; ask for one with `auth4agent console`",
            ),
            StoreError::AlreadyUsed => ServiceError::refused(
                ErrorCode::LoginLinkUsed,
                "this login link was already used; ask for a new one with `auth4agent console`",
            ),
            StoreError::Expired => ServiceError::refused(
                ErrorCode::LoginLinkExpired,
                "this login link expired (links last 60 s); ask for a new one with `auth4agent console`",
            ),
            e => e.into(),
        })?;
    audit_login(state, &session, now).await;
    Ok(OpenedSession {
        session_id,
        session,
    })
}

/// A live session and its operator.
#[derive(Debug, Clone)]
pub struct Console {
    pub session: ConsoleSession,
    pub operator: Operator,
}

fn session_required() -> ServiceError {
    ServiceError::refused(
        ErrorCode::ConsoleSessionRequired,
        "no console session: sign in with a link from `auth4agent console`",
    )
}

/// The live session whose id the cookie carries, marked seen now; `console_session_required` if there
/// is none (never was, signed out, idle for 15 min, or 8 h old).
pub async fn authenticate(
    state: &AppState,
    session_id: Option<&str>,
    now: UnixTime,
) -> ServiceResult<Console> {
    let session_id = session_id.ok_or_else(session_required)?;
    let hash = sha256_b64url(session_id.as_bytes());
    let session = state
        .store
        .touch_console_session(&hash, now, now.saturating_sub(SESSION_IDLE))
        .await?
        .ok_or_else(session_required)?;
    let operator = state
        .store
        .get_operator(&session.operator_id)
        .await?
        .ok_or_else(session_required)?;
    Ok(Console { session, operator })
}

/// Checks a form's CSRF token against the session's, in constant time.
pub fn check_csrf(console: &Console, given: Option<&str>) -> ServiceResult<()> {
    match given {
        Some(given)
            if constant_time_eq(given.as_bytes(), console.session.csrf_token.as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(ServiceError::refused(
            ErrorCode::InvalidCsrfToken,
            "the form does not carry this session's CSRF token; reload the page and try again",
        )),
    }
}

/// Ends the session (its row deleted: no replica accepts it afterwards).
pub async fn sign_out(state: &AppState, console: &Console, now: UnixTime) -> ServiceResult<()> {
    state
        .store
        .delete_console_session(&console.session.session_hash)
        .await?;
    audit::record(
        state,
        now,
        &console.operator.id,
        "console.logout",
        &console.operator.id,
        format!("session={}", &console.session.session_hash[..12]),
    )
    .await;
    Ok(())
}

/// What the console pages show of the operator.
#[derive(Debug, Clone)]
pub struct Overview {
    pub pending: Vec<DeviceAuthorization>,
    pub agents: Vec<Agent>,
    pub audit: Vec<AuditEvent>,
}

/// The operator's pending approvals, agents and recent audit events.
pub async fn overview(state: &AppState, console: &Console) -> ServiceResult<Overview> {
    let operator = &console.operator;
    let (pending, _more) =
        device::pending(state, operator, std::time::Duration::ZERO, None, None).await?;
    let agents = state.store.list_agents(&operator.id).await?;
    let audit = state
        .store
        .list_operator_audit(&operator.id, AUDIT_PAGE)
        .await?;
    Ok(Overview {
        pending,
        agents,
        audit,
    })
}

/// The assertion a browser approval page asks for: `None` while the operator has no passkey.
pub async fn approval_assertion(
    state: &AppState,
    console: &Console,
    now: UnixTime,
) -> ServiceResult<Option<passkeys::Ceremony>> {
    passkeys::start_assertion(state, &console.operator, PURPOSE_APPROVE, now).await
}

/// Approves from the browser, through the CLI's [`device::approve`]. Once the operator has a passkey, the
/// approval must carry a fresh assertion of it with user verification (`passkey_required` without one).
pub async fn approve(
    state: &AppState,
    console: &Console,
    user_code: &str,
    scopes: ScopeSet,
    remember: Option<u64>,
    assertion: Option<Answer<'_>>,
    now: UnixTime,
) -> ServiceResult<(DeviceAuthorization, Option<RememberedGrant>)> {
    let operator = &console.operator;
    let method = if passkeys::passkeys(state, operator).await?.is_empty() {
        METHOD_BROWSER_SESSION
    } else {
        let answer = assertion.ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::PasskeyRequired,
                "this operator has a passkey: every browser approval needs a fresh passkey assertion",
            )
        })?;
        passkeys::finish_assertion(state, Some(&operator.id), PURPOSE_APPROVE, answer, now).await?;
        METHOD_PASSKEY
    };
    device::approve(
        state,
        operator,
        user_code,
        Some(scopes),
        remember,
        method,
        now,
    )
    .await
}

/// Denies from the browser, through the CLI's [`device::deny`].
pub async fn deny(
    state: &AppState,
    console: &Console,
    user_code: &str,
    now: UnixTime,
) -> ServiceResult<DeviceAuthorization> {
    device::deny(
        state,
        &console.operator,
        user_code,
        METHOD_BROWSER_SESSION,
        now,
    )
    .await
}
