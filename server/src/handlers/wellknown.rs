//! Public documents: the JWKS and the discovery document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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

/// `GET /.well-known/auth4agent-configuration`.
pub async fn configuration(State(state): State<AppState>) -> Json<Value> {
    let c = &state.config;
    let u = |p: &str| state.url(p);
    Json(json!({
        "issuer": c.issuer,
        "jwks_uri": u("/.well-known/jwks.json"),
        "oauth_authorization_server": u("/.well-known/oauth-authorization-server"),
        "endpoints": {
            "operators": u("/v1/operators"),
            "agents": u("/v1/agents"),
            "challenge": u("/v1/challenge"),
            "token": u("/v1/token"),
            "oauth_token": u("/oauth/token"),
            "introspect": u("/v1/introspect"),
            "revoke": u("/v1/revoke"),
            "jwks": u("/.well-known/jwks.json"),
            "health": u("/health"),
            "ready": u("/ready"),
        },
        "limits": {
            "max_body_bytes": c.max_body_bytes,
            "challenge_ttl": c.challenge_ttl,
            "token_max_ttl": c.token_max_ttl,
            "token_default_ttl": c.token_default_ttl,
            "request_max_age": c.request_max_age,
            "leeway": c.leeway,
        },
        "token_types_supported": [typ::ACCESS_TOKEN],
        "signing_alg_values_supported": ["EdDSA"],
        "request_signature_header": SIGNATURE_HEADER,
        "request_typ": typ::REQUEST,
        "proof_typ": typ::PROOF,
    }))
}
