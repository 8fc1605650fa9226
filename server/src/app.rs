//! The HTTP application: the router and the middleware stack (panic catching, tracing,
//! JSON error bodies, request timeout, body limit, per-client rate limits).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::dns::DnsVerifier;
use crate::errors::{AppError, ErrorReport, oauth_error_response};
use crate::handlers::{
    agents, approvals, console, health, oauth, operators, status_lists, tokens, wellknown,
};
use crate::keyring::KeyRingError;
use crate::metrics;
pub use crate::state::AppState;
use crate::store::Store;
use auth4agent_api::routes;

/// Builds the state and the router in one step.
pub async fn build(
    config: Config,
    store: Arc<dyn Store>,
    clock: SharedClock,
    dns: DnsVerifier,
) -> Result<(Router, AppState), KeyRingError> {
    let state = AppState::new(config, store, clock, dns).await?;
    Ok((router(state.clone()), state))
}

/// The HTTP API. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so rate limits
/// see the client address.
pub fn router(state: AppState) -> Router {
    // Unauthenticated endpoints: rate-limited per client IP.
    let limited = Router::new()
        .route("/v1/operators", post(operators::register))
        .route("/v1/agents", post(agents::register))
        .route("/v1/challenge", post(tokens::challenge))
        .route("/v1/token", post(tokens::token))
        .route("/v1/introspect", post(tokens::introspect))
        .route(routes::OAUTH_TOKEN, post(oauth::token))
        .route(
            routes::OAUTH_DEVICE_AUTHORIZATION,
            post(oauth::device_authorization),
        )
        .route(
            routes::CONSOLE_APPROVE,
            get(console::approve_page).post(console::approve),
        )
        .route(routes::CONSOLE_LOGIN, get(console::login))
        .route(
            routes::CONSOLE_PASSKEY_LOGIN,
            get(console::passkey_login_page).post(console::passkey_login),
        )
        .route_layer(from_fn_with_state(state.clone(), rate_limit));

    let routes = Router::new()
        .merge(limited)
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/auth4agent-configuration",
            get(wellknown::configuration),
        )
        .route(routes::OAUTH_METADATA, get(oauth::metadata))
        .route(routes::STATUS_LISTS, get(status_lists::aggregation))
        .route(routes::STATUS_LIST, get(status_lists::list))
        .route(
            routes::OAUTH_AUTHORIZE,
            get(oauth::authorize).post(oauth::authorize),
        )
        .route("/v1/operators/{id}", get(operators::status))
        .route(
            "/v1/operators/{id}/verification",
            get(operators::instructions).post(operators::confirm),
        )
        .route("/v1/operators/{id}/key", post(operators::change_key))
        .route(
            "/v1/operators/{id}/recovery",
            post(operators::start_recovery),
        )
        .route(
            "/v1/operators/{id}/recovery/confirm",
            post(operators::confirm_recovery),
        )
        .route("/v1/operators/{id}/agents", get(operators::agents))
        .route(
            "/v1/operators/{id}/revocations",
            get(operators::revocations),
        )
        .route(routes::OPERATOR_APPROVALS, get(approvals::list))
        .route(routes::OPERATOR_APPROVE, post(approvals::approve))
        .route(routes::OPERATOR_DENY, post(approvals::deny))
        .route(routes::OPERATOR_GRANTS, get(approvals::grants))
        .route(routes::OPERATOR_GRANT_REVOKE, post(approvals::revoke_grant))
        .route(routes::OPERATOR_CONSOLE_LINK, post(console::link))
        .route(routes::CONSOLE, get(console::home))
        .route(routes::CONSOLE_AGENTS, get(console::agents))
        .route(routes::CONSOLE_AUDIT, get(console::audit))
        .route(routes::CONSOLE_DENY, post(console::deny))
        .route(routes::CONSOLE_LOGOUT, post(console::logout))
        .route(routes::CONSOLE_STATIC, get(console::asset))
        .route(
            routes::CONSOLE_PASSKEYS,
            get(console::passkeys_page).post(console::register_passkey),
        )
        .route("/v1/agents/{did}", get(agents::get))
        .route("/v1/agents/{did}/scopes", put(agents::set_scopes))
        .route("/v1/agents/{did}/suspend", post(agents::suspend))
        .route("/v1/agents/{did}/reactivate", post(agents::reactivate))
        .route("/v1/agents/{did}/revoke", post(agents::revoke))
        .route("/v1/revoke", post(tokens::revoke));
    with_middleware(routes, state)
}

/// Adds the JSON fallbacks and the middleware stack to `routes` (exposed so tests can wrap extra routes).
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    routes
        .fallback(|| async { AppError::route_not_found() })
        .method_not_allowed_fallback(|| async { AppError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(state.clone(), edge))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(CatchPanicLayer::custom(|_| {
            AppError::internal("internal error").into_response()
        }))
        .with_state(state)
}

/// The span of a request in the log: method, URI and version, except that the query of the console's
/// login link (its one-time token, a secret) is never logged.
fn request_span(req: &Request<Body>) -> tracing::Span {
    // Formatting the URI costs an allocation per request: only when the span is recorded.
    if !tracing::enabled!(Level::INFO) {
        return tracing::Span::none();
    }
    let uri = if req.uri().path() == routes::CONSOLE_LOGIN {
        format!("{}?<redacted>", req.uri().path())
    } else {
        req.uri().to_string()
    };
    tracing::info_span!("request", method = %req.method(), uri = %uri, version = ?req.version())
}

/// Every request's edge, in one middleware (each `from_fn` layer boxes the request's future once more),
/// innermost step first:
/// 1. a declared `Content-Length` over the limit is refused before anything is read;
/// 2. the whole exchange, reading a slow body included, is bounded by the request timeout;
/// 3. error responses produced outside our handlers (router defaults, layers) get our JSON shape (the
///    console's HTML refusal pages, which carry the code themselves, are left as they are);
/// 4. every answered request is counted and timed by route (see [`crate::metrics`]), refusals by their
///    auth4agent code;
/// 5. on the OAuth routes every error (the handler's, the body limit's, the rate limit's) is rendered in
///    RFC 6749 §5.2 form.
async fn edge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let oauth = req.uri().path().starts_with("/oauth/");
    let timed = metrics::enabled().then(|| {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |path| path.as_str())
            .to_owned();
        (std::time::Instant::now(), route, req.method().clone())
    });
    let limit = state.config.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let resp = if declared.is_some_and(|n| n > limit as u64) {
        AppError::payload_too_large(limit).into_response()
    } else {
        match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => AppError::request_timeout().into_response(),
        }
    };
    let resp = json_errors(resp);
    if let Some((started, route, method)) = timed {
        let refusal = resp.extensions().get::<ErrorReport>().map(|r| r.code);
        metrics::record_request(
            &route,
            method.as_str(),
            resp.status().as_u16(),
            refusal,
            started.elapsed(),
        );
    }
    if !oauth {
        return resp;
    }
    match resp.extensions().get::<ErrorReport>() {
        Some(report) => oauth_error_response(report, &resp),
        None => resp,
    }
}

/// Gives an error response without a JSON (or the console's HTML) body our JSON shape.
fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json {
        return resp;
    }
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let mut fixed = AppError::from_status(status).into_response();
    if let Some(v) = retry_after {
        fixed.headers_mut().insert(header::RETRY_AFTER, v);
    }
    fixed
}

/// The client a request is counted as: the TCP peer, or the client a trusted proxy names (see
/// [`crate::client_addr`]); unspecified when the server was not given connect info.
fn client_ip(state: &AppState, req: &Request<Body>) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    state.config.clients.client_ip(peer, req.headers())
}

/// Per-client token bucket (per server process; see [`crate::ratelimit`]).
async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = client_ip(&state, &req);
    match state
        .limiter
        .check(state.config.clients.key(ip), state.monotonic_ms())
    {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            // Debug, not warn: a flood would otherwise turn into a flood of log lines.
            tracing::debug!(client = %ip, path = req.uri().path(), "rate limited");
            metrics::record_rate_limited();
            AppError::rate_limited(wait).into_response()
        }
    }
}
