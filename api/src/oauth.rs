//! OAuth 2.0 on the wire: authorization server metadata (RFC 8414, `GET /.well-known/oauth-authorization-server`),
//! the token endpoint's form (`POST /oauth/token`, RFC 6749 §4.4 with RFC 7523 client assertions and RFC 8707
//! resource indicators), its answer (RFC 6749 §5.1) and its errors (RFC 6749 §5.2, plus `auth4agent_error`).

use auth4agent_protocol::Form;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// `grant_type` of the client credentials grant (RFC 6749 §4.4.2).
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// `grant_type` of the device authorization grant's token request (RFC 8628 §3.4).
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The only client authentication method the token endpoint accepts.
pub const AUTH_METHOD_PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// RFC 8414 authorization server metadata. Members this server does not use are omitted, not null.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationServerMetadata {
    /// The auth4agent discovery document (not an RFC 8414 member; ignored by OAuth clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth4agent_configuration: Option<String>,
    /// An endpoint that refuses every request ([`crate::routes::OAUTH_AUTHORIZE`]): RFC 8414 lets a server
    /// without authorization-endpoint grants omit it, but common clients (the MCP Python SDK) require it.
    pub authorization_endpoint: String,
    /// RFC 8628 §4: where a device authorization starts ([`crate::routes::OAUTH_DEVICE_AUTHORIZATION`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9449 §5.1: the DPoP proof algorithms the token endpoint accepts (`EdDSA`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub response_types_supported: Vec<String>,
    pub revocation_endpoint: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// The Token Status List aggregation (draft-ietf-oauth-status-list-20 §9.1, registered in RFC 8414's
    /// registry by §14.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list_aggregation_endpoint: Option<String>,
    pub token_endpoint: String,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
}

/// A `POST /oauth/token` request, read from its form ([`TokenForm::parse`]). Nothing in it is trusted: the
/// assertion is verified by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenForm {
    /// The compact JWS client assertion.
    pub client_assertion: String,
    /// `client_id`, when sent; it must then equal the assertion's `sub`.
    pub client_id: Option<String>,
    /// The grant and its own parameters.
    pub grant: TokenGrant,
}

/// The grant a token request uses, with the parameters that grant takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenGrant {
    /// `client_credentials` (RFC 6749 §4.4).
    ClientCredentials {
        /// `resource` (RFC 8707): required, exactly one; it becomes the token's `aud`.
        resource: String,
        /// `scope`, when sent (space-separated); absent means every scope the agent is allowed.
        scope: Option<String>,
    },
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the scopes and the resource are the
    /// device authorization's, so the form carries neither.
    DeviceCode { device_code: String },
}

/// Why a token form was refused, before any signature was looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormRefusal {
    pub code: ErrorCode,
    pub message: String,
}

impl FormRefusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> FormRefusal {
        FormRefusal {
            code,
            message: message.into(),
        }
    }
}

/// Parses a form body strictly; a repeated `resource` is RFC 8707's invalid_target, any other repeat
/// invalid_request.
fn parse_form(body: &[u8]) -> Result<Form, FormRefusal> {
    match Form::parse(body) {
        Ok(form) => Ok(form),
        Err(auth4agent_protocol::Error::RepeatedParameter(name)) if name == "resource" => {
            Err(FormRefusal::new(
                ErrorCode::InvalidTarget,
                "exactly one resource is allowed (RFC 8707 §2)",
            ))
        }
        Err(e) => Err(FormRefusal::new(ErrorCode::InvalidRequest, e.to_string())),
    }
}

/// The `private_key_jwt` client authentication of a form (RFC 7523 §2.2): the assertion.
fn client_assertion(form: &Form) -> Result<String, FormRefusal> {
    match (
        form.get("client_assertion_type"),
        form.get("client_assertion"),
    ) {
        (Some(ASSERTION_TYPE_JWT_BEARER), Some(assertion)) => Ok(assertion.to_owned()),
        (Some(ASSERTION_TYPE_JWT_BEARER), None) => Err(FormRefusal::new(
            ErrorCode::InvalidClientAssertion,
            "client_assertion is required",
        )),
        (Some(other), _) => Err(FormRefusal::new(
            ErrorCode::InvalidClientAssertion,
            format!(
                "client_assertion_type {other:?} is not supported; use {ASSERTION_TYPE_JWT_BEARER}"
            ),
        )),
        (None, _) => Err(FormRefusal::new(
            ErrorCode::InvalidClientAssertion,
            "client authentication is required: private_key_jwt (client_assertion_type and client_assertion)",
        )),
    }
}

/// The one `resource` of a form.
fn resource(form: &Form) -> Result<String, FormRefusal> {
    form.get("resource").map(str::to_owned).ok_or_else(|| {
        FormRefusal::new(
            ErrorCode::InvalidTarget,
            "resource is required: the absolute URI of the service the token is for",
        )
    })
}

impl TokenForm {
    /// Parses a token request body, checking in this order: the form syntax (no repeated parameter), the
    /// grant type, the client authentication method, and the grant's own parameters (the one `resource`;
    /// or the `device_code`, with no `scope` or `resource` beside it).
    pub fn parse(body: &[u8]) -> Result<TokenForm, FormRefusal> {
        let form = parse_form(body)?;
        let device = match form.get("grant_type") {
            None => {
                return Err(FormRefusal::new(
                    ErrorCode::InvalidRequest,
                    "grant_type is required",
                ));
            }
            Some(GRANT_CLIENT_CREDENTIALS) => false,
            Some(GRANT_DEVICE_CODE) => true,
            Some(other) => {
                return Err(FormRefusal::new(
                    ErrorCode::UnsupportedGrantType,
                    format!(
                        "grant_type {other:?} is not supported; use client_credentials or {GRANT_DEVICE_CODE}"
                    ),
                ));
            }
        };
        let client_assertion = client_assertion(&form)?;
        let grant = if device {
            if form.get("scope").is_some() || form.get("resource").is_some() {
                return Err(FormRefusal::new(
                    ErrorCode::InvalidRequest,
                    "a device_code token request takes no scope or resource: they are the device authorization's",
                ));
            }
            let device_code = form.get("device_code").ok_or_else(|| {
                FormRefusal::new(ErrorCode::InvalidRequest, "device_code is required")
            })?;
            TokenGrant::DeviceCode {
                device_code: device_code.to_owned(),
            }
        } else {
            TokenGrant::ClientCredentials {
                resource: resource(&form)?,
                scope: form.get("scope").map(str::to_owned),
            }
        };
        Ok(TokenForm {
            client_assertion,
            client_id: form.get("client_id").map(str::to_owned),
            grant,
        })
    }
}

/// A `POST /oauth/device_authorization` request (RFC 8628 §3.1), read from its form
/// ([`DeviceAuthorizationForm::parse`]); authenticated like the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuthorizationForm {
    /// Shown to the approver (1 to 64 printable characters).
    pub binding_message: Option<String>,
    pub client_assertion: String,
    pub client_id: Option<String>,
    /// `resource` (RFC 8707): required, exactly one; the token's `aud`.
    pub resource: String,
    /// `scope`, when sent; absent means every scope the agent is allowed.
    pub scope: Option<String>,
}

impl DeviceAuthorizationForm {
    /// Parses a device authorization body: the form syntax, the client authentication, the one `resource`
    /// and the binding message's length and characters.
    pub fn parse(body: &[u8]) -> Result<DeviceAuthorizationForm, FormRefusal> {
        let form = parse_form(body)?;
        let client_assertion = client_assertion(&form)?;
        let resource = resource(&form)?;
        let binding_message = form.get("binding_message").map(str::to_owned);
        if let Some(message) = &binding_message {
            auth4agent_protocol::check_binding_message(message)
                .map_err(|e| FormRefusal::new(ErrorCode::InvalidBindingMessage, e.to_string()))?;
        }
        Ok(DeviceAuthorizationForm {
            binding_message,
            client_assertion,
            client_id: form.get("client_id").map(str::to_owned),
            resource,
            scope: form.get("scope").map(str::to_owned),
        })
    }
}

/// `POST /oauth/device_authorization` answer (RFC 8628 §3.2), sent with `Cache-Control: no-store`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuthorizationResponse {
    /// The secret the agent polls the token endpoint with (43 base64url characters).
    pub device_code: String,
    /// Seconds until the device code expires.
    pub expires_in: u64,
    /// Seconds the agent waits between polls.
    pub interval: u64,
    /// `XXXX-XXXX`, eight characters of BCDFGHJKLMNPQRSTVWXZ.
    pub user_code: String,
    /// The approval page under the issuer.
    pub verification_uri: String,
    /// The approval page with the user code filled in.
    pub verification_uri_complete: String,
}

/// `POST /oauth/token` answer (RFC 6749 §5.1), sent with `Cache-Control: no-store`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OAuthTokenResponse {
    pub access_token: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// Granted scopes, canonical (sorted, space-separated).
    pub scope: String,
    /// `DPoP` when the request carried a valid DPoP proof of the agent's key (RFC 9449 §5), else `Bearer`.
    pub token_type: String,
}

/// An OAuth error body (RFC 6749 §5.2) with the auth4agent code that says exactly why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OAuthErrorBody {
    /// The auth4agent error code (spec/protocol.md §16).
    pub auth4agent_error: String,
    /// The RFC 6749 §5.2 (or RFC 8707) error code.
    pub error: String,
    pub error_description: String,
}

impl OAuthErrorBody {
    /// The OAuth body and HTTP status for an auth4agent refusal.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> (u16, OAuthErrorBody) {
        let (status, error) = oauth_error(code);
        (
            status,
            OAuthErrorBody {
                auth4agent_error: code.as_str().to_owned(),
                error: error.to_owned(),
                error_description: description.into(),
            },
        )
    }
}

/// The RFC 6749 §5.2 error and the HTTP status that an auth4agent code is sent with at the token endpoint.
///
/// A failed or replayed client authentication, and a client (agent) or operator not in good standing, are
/// `invalid_client` (401). Statuses without an OAuth meaning (405, 408, 413, 429, 5xx) keep their status; 5xx
/// become `server_error` or `temporarily_unavailable`, 429 `temporarily_unavailable`.
pub fn oauth_error(code: ErrorCode) -> (u16, &'static str) {
    use ErrorCode as C;
    match code {
        C::InvalidScope | C::ScopeNotAllowed => (400, "invalid_scope"),
        C::InvalidTarget | C::InvalidAudience => (400, "invalid_target"),
        C::UnsupportedGrantType => (400, "unsupported_grant_type"),
        C::UnsupportedResponseType => (400, "unsupported_response_type"),
        C::InvalidDpopProof | C::DpopProofReplayed => (400, "invalid_dpop_proof"),
        C::ApprovalRequired => (400, "invalid_scope"),
        C::InvalidGrant => (400, "invalid_grant"),
        C::AuthorizationPending => (400, "authorization_pending"),
        C::SlowDown => (400, "slow_down"),
        C::AccessDenied => (400, "access_denied"),
        C::ExpiredToken => (400, "expired_token"),
        C::InvalidClientAssertion
        | C::ClientAssertionReplayed
        | C::InvalidDid
        | C::InvalidSignature
        | C::MissingSignature
        | C::InvalidProof
        | C::AgentNotFound
        | C::AgentNotActive
        | C::AgentRevoked
        | C::OperatorNotVerified
        | C::OperatorNotFound => (401, "invalid_client"),
        C::RateLimited => (429, "temporarily_unavailable"),
        C::StorageUnavailable => (503, "temporarily_unavailable"),
        C::InternalError | C::DnsLookupFailed => (500, "server_error"),
        other if other.status() >= 500 => (500, "server_error"),
        other @ (C::MethodNotAllowed | C::RequestTimeout | C::PayloadTooLarge | C::NotFound) => {
            (other.status(), "invalid_request")
        }
        _ => (400, "invalid_request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSERTION: &str = "aGVhZGVy.cGF5bG9hZA.c2ln";

    fn body(extra: &str) -> String {
        format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={ASSERTION}{extra}"
        )
    }

    fn refusal(body: &str) -> ErrorCode {
        TokenForm::parse(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn parses_a_full_request() {
        let form = TokenForm::parse(
            body("&scope=files%3Aread+files%3Awrite&resource=https%3A%2F%2Fapi.example.com%2F&client_id=did%3Aagent%3Ax")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(form.client_assertion, ASSERTION);
        assert_eq!(
            form.grant,
            TokenGrant::ClientCredentials {
                resource: "https://api.example.com/".into(),
                scope: Some("files:read files:write".into()),
            }
        );
        assert_eq!(form.client_id.as_deref(), Some("did:agent:x"));
    }

    #[test]
    fn parses_a_device_code_poll() {
        let prefix = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={ASSERTION}"
        );
        let form = TokenForm::parse(format!("{prefix}&device_code=abc").as_bytes()).unwrap();
        assert_eq!(
            form.grant,
            TokenGrant::DeviceCode {
                device_code: "abc".into()
            }
        );
        assert_eq!(
            refusal(&prefix),
            ErrorCode::InvalidRequest,
            "no device_code"
        );
        assert_eq!(
            refusal(&format!("{prefix}&device_code=abc&scope=a")),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn parses_a_device_authorization() {
        let auth = format!(
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={ASSERTION}"
        );
        let form = DeviceAuthorizationForm::parse(
            format!(
                "{auth}&scope=pay&resource=https%3A%2F%2Fa.example&binding_message=Pay+%234411"
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(form.binding_message.as_deref(), Some("Pay #4411"));
        assert_eq!(form.resource, "https://a.example");
        let code = |body: String| {
            DeviceAuthorizationForm::parse(body.as_bytes())
                .unwrap_err()
                .code
        };
        assert_eq!(code(auth.clone()), ErrorCode::InvalidTarget);
        assert_eq!(
            code(format!(
                "{auth}&resource=https://a.example&binding_message={}",
                "x".repeat(65)
            )),
            ErrorCode::InvalidBindingMessage
        );
        assert_eq!(
            code(format!(
                "{auth}&resource=https://a.example&binding_message=a%0Ab"
            )),
            ErrorCode::InvalidBindingMessage
        );
        assert_eq!(
            code("resource=https://a.example".into()),
            ErrorCode::InvalidClientAssertion
        );
    }

    #[test]
    fn refusals_have_their_oauth_codes() {
        assert_eq!(refusal(&body("")), ErrorCode::InvalidTarget, "no resource");
        assert_eq!(
            refusal(&body(
                "&resource=https://a.example&resource=https://b.example"
            )),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            refusal(&body("&resource=https://a.example&scope=a&scope=b")),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            refusal("grant_type=password&username=u&password=p"),
            ErrorCode::UnsupportedGrantType
        );
        assert_eq!(refusal("scope=a"), ErrorCode::InvalidRequest);
        assert_eq!(
            refusal("grant_type=client_credentials&resource=https://a.example"),
            ErrorCode::InvalidClientAssertion
        );
        assert_eq!(
            refusal("grant_type=client_credentials&client_assertion_type=x&client_assertion=y"),
            ErrorCode::InvalidClientAssertion
        );
        assert_eq!(refusal("grant_type=%zz"), ErrorCode::InvalidRequest);
        for code in [ErrorCode::InvalidTarget, ErrorCode::UnsupportedGrantType] {
            assert_eq!(oauth_error(code).0, 400);
        }
        assert_eq!(
            oauth_error(ErrorCode::ClientAssertionReplayed),
            (401, "invalid_client")
        );
        assert_eq!(
            oauth_error(ErrorCode::ScopeNotAllowed),
            (400, "invalid_scope")
        );
        assert_eq!(
            oauth_error(ErrorCode::PayloadTooLarge),
            (413, "invalid_request")
        );
    }

    #[test]
    fn every_code_maps_to_an_oauth_error() {
        const OAUTH: [&str; 14] = [
            "invalid_request",
            "invalid_dpop_proof",
            "invalid_grant",
            "authorization_pending",
            "slow_down",
            "access_denied",
            "expired_token",
            "invalid_client",
            "invalid_scope",
            "invalid_target",
            "unsupported_grant_type",
            "unsupported_response_type",
            "server_error",
            "temporarily_unavailable",
        ];
        for &code in ErrorCode::ALL {
            let (status, error) = oauth_error(code);
            assert!(OAUTH.contains(&error), "{code}: {error}");
            assert!(status >= 400, "{code}");
            assert_eq!(
                status >= 500,
                code.status() >= 500,
                "{code}: bad input never becomes a 5xx"
            );
        }
    }
}
