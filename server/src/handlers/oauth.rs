//! The OAuth surface: RFC 8414 authorization server metadata, the token endpoint
//! (`client_credentials` and the RFC 8628 `device_code` grant, both with `private_key_jwt`) and the
//! device authorization endpoint, adapters over [`crate::service::client_credentials`] and
//! [`crate::service::device`]. Errors on these routes are rendered in RFC 6749 §5.2
//! form by the router's OAuth error layer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use auth4agent_api::oauth::{
    AUTH_METHOD_PRIVATE_KEY_JWT, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE,
};
use auth4agent_api::{
    AuthorizationServerMetadata, DeviceAuthorizationResponse, ErrorCode, OAuthTokenResponse,
    TokenGrant, routes,
};

use crate::auth::{DeviceFormBody, TokenFormBody, dpop_header};
use crate::errors::AppResult;
use crate::service::client_credentials::ClientCredentialsRequest;
use crate::service::device::DevicePoll;
use crate::service::{ServiceError, client_credentials, device};
use crate::state::AppState;

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(state): State<AppState>) -> Response {
    let u = |p: &str| state.url(p);
    let doc = AuthorizationServerMetadata {
        auth4agent_configuration: Some(u(routes::CONFIGURATION)),
        authorization_endpoint: u(routes::OAUTH_AUTHORIZE),
        device_authorization_endpoint: Some(u(routes::OAUTH_DEVICE_AUTHORIZATION)),
        dpop_signing_alg_values_supported: vec!["EdDSA".into()],
        grant_types_supported: vec![GRANT_CLIENT_CREDENTIALS.into(), GRANT_DEVICE_CODE.into()],
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

/// `POST /oauth/token`: a client assertion for an access token, in one round trip, or a poll of a device
/// authorization (RFC 8628 §3.4); of type `DPoP` with a `DPoP` proof of the agent key.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    TokenFormBody(form): TokenFormBody,
) -> AppResult<impl IntoResponse> {
    let now = state.clock.now();
    let dpop = dpop_header(&headers);
    let assertion = &form.client_assertion;
    let client_id = form.client_id.as_deref();
    let issued = match form.grant {
        TokenGrant::ClientCredentials { resource, scope } => {
            let request = ClientCredentialsRequest {
                client_assertion: assertion,
                client_id,
                resource,
                scope: scope.as_deref(),
            };
            client_credentials::issue(&state, request, &dpop, now).await?
        }
        TokenGrant::DeviceCode { device_code } => {
            let poll = DevicePoll {
                client_assertion: assertion,
                client_id,
                device_code: &device_code,
            };
            device::poll(&state, poll, &dpop, now).await?
        }
    };
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
            token_type: issued.token_type.into(),
        }),
    ))
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1, §3.2): starts a device authorization.
pub async fn device_authorization(
    State(state): State<AppState>,
    DeviceFormBody(form): DeviceFormBody,
) -> AppResult<impl IntoResponse> {
    let now = state.clock.now();
    let started = device::authorize(&state, form, now).await?;
    let (verification_uri, verification_uri_complete) =
        device::verification_uris(&state, &started.user_code);
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(DeviceAuthorizationResponse {
            device_code: started.device_code,
            expires_in: started.expires_in,
            interval: started.interval,
            user_code: started.user_code.display(),
            verification_uri,
            verification_uri_complete,
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
