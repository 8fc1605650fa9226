//! The OAuth surface: RFC 8414 authorization server metadata and the token endpoint
//! (`client_credentials` with `private_key_jwt`), an adapter over
//! [`crate::service::client_credentials`]. Errors on these routes are rendered in RFC 6749 §5.2
//! form by the router's OAuth error layer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use auth4agent_api::oauth::{AUTH_METHOD_PRIVATE_KEY_JWT, GRANT_CLIENT_CREDENTIALS};
use auth4agent_api::{AuthorizationServerMetadata, ErrorCode, OAuthTokenResponse, routes};

use crate::auth::TokenFormBody;
use crate::errors::AppResult;
use crate::service::{ServiceError, client_credentials};
use crate::state::AppState;

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(state): State<AppState>) -> Response {
    let u = |p: &str| state.url(p);
    let doc = AuthorizationServerMetadata {
        auth4agent_configuration: Some(u(routes::CONFIGURATION)),
        authorization_endpoint: u(routes::OAUTH_AUTHORIZE),
        grant_types_supported: vec![GRANT_CLIENT_CREDENTIALS.into()],
        introspection_endpoint: u(routes::INTROSPECT),
        issuer: state.config.issuer.clone(),
        jwks_uri: u(routes::JWKS),
        // RFC 8414 §2 requires the member; this server has no authorization endpoint.
        response_types_supported: Vec::new(),
        revocation_endpoint: u(routes::REVOKE),
        scopes_supported: Vec::new(),
        status_list_aggregation_endpoint: Some(u(routes::STATUS_LISTS)),
        token_endpoint: u(routes::OAUTH_TOKEN),
        token_endpoint_auth_methods_supported: vec![AUTH_METHOD_PRIVATE_KEY_JWT.into()],
        token_endpoint_auth_signing_alg_values_supported: vec!["EdDSA".into()],
    };
    let mut resp = Json(doc).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `POST /oauth/token`: a client assertion for an access token, in one round trip.
pub async fn token(
    State(state): State<AppState>,
    TokenFormBody(form): TokenFormBody,
) -> AppResult<impl IntoResponse> {
    let now = state.clock.now();
    let issued = client_credentials::issue(&state, form, now).await?;
    // RFC 6749 §5.1: responses carrying tokens are not cached.
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(OAuthTokenResponse {
            access_token: issued.token,
            expires_in: issued.expires_at.saturating_sub(now),
            scope: issued.scope,
            token_type: "Bearer".into(),
        }),
    ))
}

/// `GET|POST /oauth/authorize`: refuses every request. No grant of this server uses an authorization
/// endpoint (`response_types_supported` is empty), but OAuth clients such as the MCP Python SDK refuse
/// metadata without one, so it exists and answers as RFC 6749 §4.1.2.1 says when no redirection URI can
/// be trusted: directly, without redirecting, with `unsupported_response_type`.
pub async fn authorize() -> AppResult<Response> {
    Err(ServiceError::refused(
        ErrorCode::UnsupportedResponseType,
        "this server has no authorization grant: agents get tokens from the token endpoint \
         (client credentials with private_key_jwt)",
    )
    .into())
}
