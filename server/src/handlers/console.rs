//! The browser operator console: `POST /v1/operators/{id}/console-link` (operator-signed, JSON) and the HTML
//! pages under `/console` — login from the one-time link (a cookie, then a 303 to the console so no secret
//! stays in the URL), the pending approvals with their decision forms, the approval page of one code
//! (`verification_uri`), the agents, the recent audit events, sign-out. Pages are askama templates
//! (`server/templates/console/`, HTML auto-escaped); every form carries the session's CSRF token; every
//! response has a strict CSP (no inline script or style), is never framed and never cached. Refusals are
//! HTML pages with the error code and its HTTP status.

use askama::Template;
use auth4agent_api::ConsoleLink;
use auth4agent_protocol::{Form, ScopeSet, UserCode};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::OperatorSigned;
use crate::errors::{AppError, AppResult};
use crate::service::console::{self as service, Console, SESSION_MAX};
use crate::service::passkeys::{self, Answer, Ceremony};
use crate::service::{ServiceError, device};
use crate::state::AppState;
use crate::store::{Agent, ApprovalKind, DeviceAuthorization, UnixTime};

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers of every console response: strict CSP, never framed, never cached, no referrer.
const PAGE_HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

const STYLESHEET: &str = include_str!("../../static/console.css");
const SCRIPT: &str = include_str!("../../static/console.js");

/// The session cookie's name: `__Host-` prefixed when the issuer is https (the browser then insists on
/// Secure, Path=/ and no Domain).
fn cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-auth4agent_console"
    } else {
        "auth4agent_console"
    }
}

fn is_https(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

fn set_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if is_https(state) { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(state)
    )
}

/// The session id of the request's cookie, if any.
fn session_cookie<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn with_headers(mut response: Response) -> Response {
    for (name, value) in PAGE_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// What the layout shows: the title, the signed-in operator, the CSRF token of its forms.
pub struct Chrome {
    title: &'static str,
    nav: &'static str,
    operator: Option<String>,
    csrf: String,
}

impl Chrome {
    fn new(title: &'static str, nav: &'static str, console: Option<&Console>) -> Chrome {
        Chrome {
            title,
            nav,
            operator: console.map(|c| c.operator.domain.to_string()),
            csrf: console.map_or_else(String::new, |c| c.session.csrf_token.clone()),
        }
    }
}

fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => with_headers(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
        ),
        Err(e) => with_headers(AppError::internal(format!("template: {e}")).into_response()),
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    page: Chrome,
    code: &'static str,
    message: String,
}

/// A refusal as an HTML page with its status and code.
pub struct PageError(AppError);

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        page(
            e.status,
            &ErrorPage {
                page: Chrome::new("Refused", "", None),
                code: e.code,
                message: e.message,
            },
        )
    }
}

pub type PageResult = Result<Response, PageError>;

/// One pending request as a page shows it (the binding message and the name are the agent's text: escaped by the
/// template).
struct RequestView {
    user_code: String,
    /// A registration asking for scopes (approving it activates the agent), not a token request.
    registration: bool,
    name: Option<String>,
    did: String,
    resource: String,
    binding_message: Option<String>,
    scopes: Vec<String>,
    age: u64,
    expires_in: u64,
}

fn request_view(a: &DeviceAuthorization, now: UnixTime) -> RequestView {
    RequestView {
        user_code: device::display_code(&a.user_code),
        registration: a.kind == ApprovalKind::Registration,
        name: a.agent_name.clone().filter(|n| !n.is_empty()),
        did: a.did.to_string(),
        resource: a.resource.clone(),
        binding_message: a.binding_message.clone(),
        scopes: a.scopes.to_vec(),
        age: now.saturating_sub(a.created_at),
        expires_in: a.expires_at.saturating_sub(now),
    }
}

struct AgentView {
    did: String,
    status: String,
    allowed: Vec<String>,
    approval: Vec<String>,
    created: String,
}

fn agent_view(a: &Agent) -> AgentView {
    AgentView {
        did: a.did.to_string(),
        status: a.status.to_string(),
        allowed: a.allowed_scopes.to_vec(),
        approval: a.approval_scopes.to_vec(),
        created: rfc3339(a.created_at),
    }
}

fn rfc3339(secs: u64) -> String {
    auth4agent_protocol::UnixTime::from_secs(secs).to_rfc3339()
}

/// The query's `user_code`: `None` if absent, `Err` if it is not a valid code (never echoed back).
fn query_code(query: Option<&str>) -> Option<Result<UserCode, ()>> {
    let form = Form::parse(query?.as_bytes()).ok()?;
    form.get("user_code")
        .map(|c| UserCode::parse(c).map_err(|_| ()))
}

/// A page's view of the query's code: its display form if valid, and whether one was given invalid.
fn code_view(code: &Option<Result<UserCode, ()>>) -> (String, bool) {
    match code {
        Some(Ok(code)) => (code.display(), false),
        Some(Err(())) => (String::new(), true),
        None => (String::new(), false),
    }
}

/// `POST /v1/operators/{id}/console-link` (operator-signed): a one-time login link, valid 60 s.
pub async fn link(
    State(state): State<AppState>,
    req: OperatorSigned,
) -> AppResult<Json<ConsoleLink>> {
    let now = state.clock.now();
    let link = service::create_link(&state, &req.operator, now).await?;
    Ok(Json(ConsoleLink {
        expires_at: link.expires_at,
        expires_in: service::LINK_TTL,
        login_url: link.url,
    }))
}

/// `GET /console/login?token=…`: consumes the link, sets the session cookie, 303 to the console.
pub async fn login(State(state): State<AppState>, RawQuery(query): RawQuery) -> PageResult {
    let form = query
        .as_deref()
        .and_then(|q| Form::parse(q.as_bytes()).ok());
    let token = form.as_ref().and_then(|f| f.get("token")).unwrap_or("");
    let opened = service::open_session(&state, token, state.clock.now()).await?;
    Ok(signed_in(&state, &opened))
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    page: Chrome,
    user_code: String,
    invalid_code: bool,
}

fn login_page(code: &Option<Result<UserCode, ()>>) -> Response {
    let (user_code, invalid_code) = code_view(code);
    page(
        StatusCode::OK,
        &LoginPage {
            page: Chrome::new("Sign in to approve", "", None),
            user_code,
            invalid_code,
        },
    )
}

/// The live session of the request, or `None` when there is none (a page then shows how to sign in).
async fn console(state: &AppState, headers: &HeaderMap) -> Result<Option<Console>, PageError> {
    let now = state.clock.now();
    match service::authenticate(state, session_cookie(state, headers), now).await {
        Ok(c) => Ok(Some(c)),
        Err(ServiceError::Refused {
            code: auth4agent_api::ErrorCode::ConsoleSessionRequired,
            ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The live session of a form post, its CSRF token checked: the form's fields. The body (already read
/// within the size limit) must be `application/x-www-form-urlencoded`.
async fn form_console(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Console, Form), PageError> {
    let form = read_form(headers, body)?;
    let now = state.clock.now();
    let console = service::authenticate(state, session_cookie(state, headers), now).await?;
    service::check_csrf(&console, form.get("csrf"))?;
    Ok((console, form))
}

/// A form body: `application/x-www-form-urlencoded`, parsed strictly.
fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, PageError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(PageError(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a console form is sent as application/x-www-form-urlencoded",
        )));
    }
    Form::parse(body).map_err(|e| PageError(AppError::invalid_request(format!("the form: {e}"))))
}

/// The passkey answer of a form (`ceremony`, `credential`), if it carries one (an empty field counts as
/// omitted: the form was sent without its WebAuthn step).
fn answer(form: &Form) -> Option<Answer<'_>> {
    match (form.get("ceremony"), form.get("credential")) {
        (Some(ceremony), Some(credential)) => Some(Answer {
            ceremony,
            credential,
        }),
        _ => None,
    }
}

/// A session cookie and a 303 to the console.
fn signed_in(state: &AppState, opened: &service::OpenedSession) -> Response {
    let cookie = set_cookie(state, &opened.session_id, SESSION_MAX);
    with_headers(
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, auth4agent_api::routes::CONSOLE.to_owned()),
                (header::SET_COOKIE, cookie),
            ],
        )
            .into_response(),
    )
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ApprovalsPage {
    page: Chrome,
    requests: Vec<RequestView>,
    assertion: Option<Ceremony>,
}

/// `GET /console`: the pending approvals (or how to sign in).
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(console) = console(&state, &headers).await? else {
        return Ok(login_page(&None));
    };
    let overview = service::overview(&state, &console).await?;
    let now = state.clock.now();
    let requests: Vec<RequestView> = overview
        .pending
        .iter()
        .map(|a| request_view(a, now))
        .collect();
    let assertion = if requests.is_empty() {
        None
    } else {
        service::approval_assertion(&state, &console, now).await?
    };
    let page_chrome = Chrome::new("Pending approvals", "approvals", Some(&console));
    Ok(page(
        StatusCode::OK,
        &ApprovalsPage {
            page: page_chrome,
            requests,
            assertion,
        },
    ))
}

#[derive(Template)]
#[template(path = "console/approve.html")]
struct ApprovePage {
    page: Chrome,
    user_code: String,
    invalid_code: bool,
    request: Option<RequestView>,
    assertion: Option<Ceremony>,
}

/// `GET /console/approve[?user_code=XXXX-XXXX]` (`verification_uri`): the code's request, to decide.
pub async fn approve_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let code = query_code(query.as_deref());
    let Some(console) = console(&state, &headers).await? else {
        return Ok(login_page(&code));
    };
    let (user_code, invalid_code) = code_view(&code);
    let overview = service::overview(&state, &console).await?;
    let now = state.clock.now();
    let request = code.and_then(Result::ok).and_then(|code| {
        overview
            .pending
            .iter()
            .find(|a| a.user_code == code.as_str())
            .map(|a| request_view(a, now))
    });
    let assertion = match request {
        Some(_) => service::approval_assertion(&state, &console, now).await?,
        None => None,
    };
    let page_chrome = Chrome::new("Approve a request", "approve", Some(&console));
    Ok(page(
        StatusCode::OK,
        &ApprovePage {
            page: page_chrome,
            user_code,
            invalid_code,
            request,
            assertion,
        },
    ))
}

#[derive(Template)]
#[template(path = "console/decided.html")]
struct DecidedPage {
    page: Chrome,
    user_code: String,
    did: String,
    status: String,
    scopes: Vec<String>,
    remembered_until: Option<String>,
}

/// The scopes ticked in an approval form (`scope:NAME=on`).
fn ticked_scopes(form: &Form) -> Result<ScopeSet, PageError> {
    let ticked: Vec<String> = form
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("scope:").map(str::to_owned))
        .collect();
    ScopeSet::from_list(&ticked)
        .map_err(|e| PageError(AppError::bad_request("invalid_scope", e.to_string())))
}

fn remember_seconds(form: &Form) -> Result<Option<u64>, PageError> {
    match form.get("remember") {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            PageError(AppError::invalid_request(
                "remember is a whole number of seconds",
            ))
        }),
    }
}

/// `POST /console/approve` (form: csrf, user_code, scope:NAME…, remember).
pub async fn approve(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> PageResult {
    let (console, form) = form_console(&state, &headers, &body).await?;
    let user_code = form.get("user_code").unwrap_or("");
    let (scopes, remember) = (ticked_scopes(&form)?, remember_seconds(&form)?);
    let now = state.clock.now();
    let (decided, grant) = service::approve(
        &state,
        &console,
        user_code,
        scopes,
        remember,
        answer(&form),
        now,
    )
    .await?;
    Ok(decided_page(
        &console,
        &decided,
        grant.map(|g| rfc3339(g.expires_at)),
    ))
}

/// `POST /console/deny` (form: csrf, user_code).
pub async fn deny(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> PageResult {
    let (console, form) = form_console(&state, &headers, &body).await?;
    let user_code = form.get("user_code").unwrap_or("");
    let decided = service::deny(&state, &console, user_code, state.clock.now()).await?;
    Ok(decided_page(&console, &decided, None))
}

fn decided_page(console: &Console, d: &DeviceAuthorization, until: Option<String>) -> Response {
    page(
        StatusCode::OK,
        &DecidedPage {
            page: Chrome::new("Decided", "approvals", Some(console)),
            user_code: device::display_code(&d.user_code),
            did: d.did.to_string(),
            status: d.status.as_str().to_owned(),
            scopes: d.granted_scopes.to_vec(),
            remembered_until: until,
        },
    )
}

/// `POST /console/logout` (form: csrf): deletes the session and the cookie, 303 to the console.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> PageResult {
    let (console, _) = form_console(&state, &headers, &body).await?;
    service::sign_out(&state, &console, state.clock.now()).await?;
    Ok(with_headers(
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, auth4agent_api::routes::CONSOLE.to_owned()),
                (header::SET_COOKIE, set_cookie(&state, "", 0)),
            ],
        )
            .into_response(),
    ))
}

#[derive(Template)]
#[template(path = "console/agents.html")]
struct AgentsPage {
    page: Chrome,
    agents: Vec<AgentView>,
}

/// `GET /console/agents`.
pub async fn agents(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(console) = console(&state, &headers).await? else {
        return Ok(login_page(&None));
    };
    let overview = service::overview(&state, &console).await?;
    let agents = overview.agents.iter().map(agent_view).collect();
    let page_chrome = Chrome::new("Agents", "agents", Some(&console));
    Ok(page(
        StatusCode::OK,
        &AgentsPage {
            page: page_chrome,
            agents,
        },
    ))
}

struct EventView {
    at: String,
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    page: Chrome,
    events: Vec<EventView>,
}

/// `GET /console/audit`: the operator's and its agents' recent events.
pub async fn audit(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(console) = console(&state, &headers).await? else {
        return Ok(login_page(&None));
    };
    let overview = service::overview(&state, &console).await?;
    let events = overview
        .audit
        .into_iter()
        .map(|e| EventView {
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            detail: e.detail,
        })
        .collect();
    let page_chrome = Chrome::new("Recent audit events", "audit", Some(&console));
    Ok(page(
        StatusCode::OK,
        &AuditPage {
            page: page_chrome,
            events,
        },
    ))
}

/// `GET /console/static/{file}`: the stylesheet and the script, from the binary.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "console.css" => ("text/css; charset=utf-8", STYLESHEET),
        "console.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return AppError::route_not_found().into_response(),
    };
    with_headers(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

#[derive(Template)]
#[template(path = "console/passkeys.html")]
struct PasskeysPage {
    page: Chrome,
    passkeys: Vec<(String, String)>,
    registration: Ceremony,
}

/// `GET /console/passkeys`: the operator's passkeys, and a form registering one more.
pub async fn passkeys_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(console) = console(&state, &headers).await? else {
        return Ok(login_page(&None));
    };
    let now = state.clock.now();
    let passkeys = passkeys::passkeys(&state, &console.operator)
        .await?
        .into_iter()
        .map(|p| (p.credential_id, rfc3339(p.created_at)))
        .collect();
    let registration = passkeys::start_registration(&state, &console, now).await?;
    let page_chrome = Chrome::new("Passkeys", "passkeys", Some(&console));
    Ok(page(
        StatusCode::OK,
        &PasskeysPage {
            page: page_chrome,
            passkeys,
            registration,
        },
    ))
}

#[derive(Template)]
#[template(path = "console/notice.html")]
struct NoticePage {
    page: Chrome,
    message: String,
}

/// `POST /console/passkeys` (form: csrf, ceremony, credential): stores the new passkey.
pub async fn register_passkey(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let (console, form) = form_console(&state, &headers, &body).await?;
    let answer = answer(&form).ok_or_else(|| {
        PageError(AppError::invalid_request(
            "the form carries no passkey answer",
        ))
    })?;
    let stored = passkeys::finish_registration(&state, &console, answer, state.clock.now()).await?;
    let message = format!(
        "Passkey {} registered: from now on every approval in a browser asks for it.",
        stored.credential_id
    );
    let page_chrome = Chrome::new("Passkey registered", "passkeys", Some(&console));
    Ok(page(
        StatusCode::OK,
        &NoticePage {
            page: page_chrome,
            message,
        },
    ))
}

#[derive(Template)]
#[template(path = "console/passkey_login.html")]
struct PasskeyLoginPage {
    page: Chrome,
    domain: String,
    login: Option<Ceremony>,
}

/// `GET /console/passkey-login[?domain=D]`: asks for the operator's domain, then for its passkey.
pub async fn passkey_login_page(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let form = query
        .as_deref()
        .and_then(|q| Form::parse(q.as_bytes()).ok());
    let domain = form
        .as_ref()
        .and_then(|f| f.get("domain"))
        .unwrap_or("")
        .to_owned();
    let login = if domain.is_empty() {
        None
    } else {
        Some(passkeys::start_login(&state, &domain, state.clock.now()).await?)
    };
    Ok(page(
        StatusCode::OK,
        &PasskeyLoginPage {
            page: Chrome::new("Sign in with a passkey", "", None),
            domain,
            login,
        },
    ))
}

/// `POST /console/passkey-login` (form: ceremony, credential): a session from a passkey alone.
pub async fn passkey_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = read_form(&headers, &body)?;
    let answer = answer(&form).ok_or_else(|| {
        PageError(AppError::invalid_request(
            "the form carries no passkey answer",
        ))
    })?;
    let opened = service::open_passkey_session(&state, answer, state.clock.now()).await?;
    Ok(signed_in(&state, &opened))
}
