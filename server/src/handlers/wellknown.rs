//! Public documents: the JWKS and the discovery document.

use auth4agent_api::{Configuration, Endpoints, routes};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use auth4agent_protocol::SIGNATURE_HEADER;
use auth4agent_protocol::typ;

use crate::state::AppState;

/// `GET /.well-known/jwks.json`: the active key and retired keys whose tokens may still be live.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.keyring.jwks(state.clock.now());
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `GET /.well-known/auth4agent-configuration`: the limits are those the server applies
/// ([`crate::config::Config::limits`]).
pub async fn configuration(State(state): State<AppState>) -> Response {
    let u = |p: &str| state.url(p);
    let doc = Json(Configuration {
        endpoints: Endpoints {
            agents: u(routes::AGENTS),
            challenge: u(routes::CHALLENGE),
            health: u(routes::HEALTH),
            introspect: u(routes::INTROSPECT),
            jwks: u(routes::JWKS),
            oauth_token: Some(u(routes::OAUTH_TOKEN)),
            operators: u(routes::OPERATORS),
            ready: u(routes::READY),
            revoke: u(routes::REVOKE),
            token: u(routes::TOKEN),
        },
        issuer: state.config.issuer.clone(),
        jwks_uri: u(routes::JWKS),
        limits: state.config.limits(),
        oauth_authorization_server: Some(u(routes::OAUTH_METADATA)),
        proof_typ: typ::PROOF.into(),
        request_signature_header: SIGNATURE_HEADER.into(),
        request_typ: typ::REQUEST.into(),
        signing_alg_values_supported: vec!["EdDSA".into()],
        status_list_aggregation_endpoint: Some(u(routes::STATUS_LISTS)),
        token_types_supported: vec![typ::ACCESS_TOKEN.into()],
    });
    // Cacheable like the JWKS (spec §15.1); the values change only with the server's configuration.
    let mut resp = doc.into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}
