//! axum / tower middleware: [`BearerAuth`] verifies `Authorization: Bearer <token>` with a [`TokenVerifier`] and
//! hands the handler an [`AgentToken`]; [`BearerAuth::require_scope`] makes a route need a scope; refusals are
//! RFC 6750 §3 (`WWW-Authenticate: Bearer …` with RFC 9728's `resource_metadata`), with the auth4agent code in
//! the JSON body and the logs. [`ProtectedResource`] serves the RFC 9728 metadata.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth4agent_protocol::{Did, ScopeSet, UnixTime, VerifiedToken};
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::{Layer, Service};

use crate::{TokenVerifier, VerifyError};

/// RFC 9728's well-known path.
pub const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";

/// A verified agent token, put in the request's extensions by [`BearerAuth`] and extracted by handlers.
#[derive(Debug, Clone)]
pub struct AgentToken(Arc<VerifiedToken>);

impl AgentToken {
    /// The agent (`sub`).
    pub fn did(&self) -> &Did {
        self.0.did()
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        self.0.scopes()
    }
    /// The token's `jti`.
    pub fn jti(&self) -> &str {
        self.0.jti()
    }
    /// The token's `exp`.
    pub fn expires_at(&self) -> UnixTime {
        self.0.expires_at()
    }
    /// `cnf.jkt`: the thumbprint of the agent key the token is bound to.
    pub fn jkt(&self) -> &str {
        self.0.thumbprint()
    }
    /// Everything the verifier checked.
    pub fn verified(&self) -> &VerifiedToken {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AgentToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<AgentToken, Response> {
        parts
            .extensions
            .get::<AgentToken>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!("AgentToken extracted on a route without the BearerAuth layer");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            })
    }
}

/// The RFC 9728 metadata of this service: its resource identifier, the authorization server, the scopes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProtectedResource {
    resource: String,
    authorization_servers: Vec<String>,
    bearer_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    #[serde(skip)]
    metadata_url: String,
}

impl ProtectedResource {
    /// `resource` (the service's audience, an https URL) protected by tokens of `issuer`.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> ProtectedResource {
        let resource = resource.into();
        let metadata_url = metadata_url(&resource);
        ProtectedResource {
            resource,
            authorization_servers: vec![issuer.into()],
            bearer_methods_supported: vec!["header"],
            scopes_supported: Vec::new(),
            metadata_url,
        }
    }

    /// Lists the scopes this service understands in the metadata.
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Where the metadata is served (the `resource_metadata` of the challenges).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The metadata document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("metadata serializes")
    }

    /// A router serving `GET /.well-known/oauth-protected-resource` (merge it into the app, outside the layer).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let body = Arc::new(self.to_json());
        Router::new().route(
            PROTECTED_RESOURCE_PATH,
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [(
                            CACHE_CONTROL,
                            HeaderValue::from_static("public, max-age=3600"),
                        )],
                        axum::Json((*body).clone()),
                    )
                }
            }),
        )
    }
}

/// RFC 9728 §3.1: the well-known path goes between the host and the resource's path.
fn metadata_url(resource: &str) -> String {
    match reqwest::Url::parse(resource) {
        Ok(url) if url.has_host() => {
            let path = url.path().trim_end_matches('/');
            let mut origin = url.origin().ascii_serialization();
            origin.push_str(PROTECTED_RESOURCE_PATH);
            origin.push_str(path);
            origin
        }
        _ => format!(
            "{}{PROTECTED_RESOURCE_PATH}",
            resource.trim_end_matches('/')
        ),
    }
}

/// What a request's `Authorization` header holds.
enum Bearer {
    Missing,
    Malformed,
    Token(String),
}

/// The tower layer: verifies the bearer token of every request it wraps, optionally requiring a scope.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    verifier: TokenVerifier,
    resource_metadata: Arc<str>,
    scope: Option<Arc<str>>,
}

impl BearerAuth {
    /// Verifies with `verifier`; challenges name `resource`'s metadata URL.
    pub fn new(verifier: TokenVerifier, resource: &ProtectedResource) -> BearerAuth {
        BearerAuth {
            verifier,
            resource_metadata: resource.metadata_url().into(),
            scope: None,
        }
    }

    /// The same layer, also requiring `scope` (403 `insufficient_scope` otherwise): one per route.
    pub fn require_scope(&self, scope: &str) -> BearerAuth {
        BearerAuth {
            scope: Some(scope.into()),
            ..self.clone()
        }
    }

    /// The bearer token of a request (sync: the request itself is not held across the verification).
    fn bearer(headers: &axum::http::HeaderMap) -> Bearer {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Bearer::Missing;
        };
        let Ok(value) = value.to_str() else {
            return Bearer::Malformed;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        // RFC 6750 §3.1: another scheme is no Bearer credential at all, answered like a missing one.
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Bearer::Missing;
        }
        let token = rest.trim_matches(' ');
        if token.is_empty() || token.contains(' ') {
            return Bearer::Malformed;
        }
        Bearer::Token(token.to_owned())
    }

    async fn check(&self, token: String) -> Result<AgentToken, Response> {
        let verified = match self.verifier.verify(&token).await {
            Ok(verified) => verified,
            Err(error) => return Err(self.invalid_token(&error)),
        };
        if let Some(scope) = &self.scope
            && !verified.scopes().contains(scope)
        {
            return Err(self.insufficient_scope(scope, &verified));
        }
        Ok(AgentToken(verified))
    }

    /// RFC 6750 §3.1: no credentials, no error code.
    fn challenge_only(&self) -> Response {
        let challenge = format!(
            "Bearer resource_metadata=\"{}\"",
            quoted(&self.resource_metadata)
        );
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        insert_challenge(&mut response, &challenge);
        response
    }

    fn invalid_request(&self) -> Response {
        tracing::info!(
            auth4agent_error = "malformed_token",
            "refused: Authorization is not `Bearer <token>`"
        );
        self.refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the Authorization header must be `Bearer <token>`",
            "malformed_token",
            None,
        )
    }

    fn invalid_token(&self, error: &VerifyError) -> Response {
        let code = error.code();
        let description = error.to_string();
        if let VerifyError::KeysUnavailable(_) | VerifyError::StatusUnavailable(_) = error {
            tracing::warn!(auth4agent_error = code, %error, "cannot verify tokens");
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": description,
                "auth4agent_error": code,
            });
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
        tracing::info!(auth4agent_error = code, %error, "refused token");
        self.refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            &description,
            code,
            None,
        )
    }

    fn insufficient_scope(&self, scope: &str, token: &VerifiedToken) -> Response {
        tracing::info!(
            auth4agent_error = "scope_not_allowed",
            agent = %token.did(),
            jti = token.jti(),
            required = scope,
            "refused: insufficient scope"
        );
        self.refusal(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            &format!("the token does not grant the scope {scope:?}"),
            "scope_not_allowed",
            Some(scope),
        )
    }

    fn refusal(
        &self,
        status: StatusCode,
        error: &str,
        description: &str,
        code: &str,
        scope: Option<&str>,
    ) -> Response {
        let mut challenge = format!(
            "Bearer error=\"{error}\", error_description=\"{}\"",
            quoted(description)
        );
        if let Some(scope) = scope {
            challenge.push_str(&format!(", scope=\"{}\"", quoted(scope)));
        }
        challenge.push_str(&format!(
            ", resource_metadata=\"{}\"",
            quoted(&self.resource_metadata)
        ));
        let body = serde_json::json!({
            "error": error,
            "error_description": description,
            "auth4agent_error": code,
        });
        let mut response = (status, axum::Json(body)).into_response();
        insert_challenge(&mut response, &challenge);
        response
    }
}

fn insert_challenge(response: &mut Response, challenge: &str) {
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
}

/// An RFC 9110 quoted-string body: printable ASCII only (RFC 6750 §3 restricts error_description to it), `"` and
/// `\` escaped, at most 200 characters (the description may quote attacker-chosen input such as a kid).
fn quoted(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| matches!(c, ' '..='~')).take(200) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl<S> Layer<S> for BearerAuth {
    type Service = BearerAuthService<S>;

    fn layer(&self, inner: S) -> BearerAuthService<S> {
        BearerAuthService {
            auth: self.clone(),
            inner,
        }
    }
}

/// The service [`BearerAuth`] wraps around a route.
#[derive(Debug, Clone)]
pub struct BearerAuthService<S> {
    auth: BearerAuth,
    inner: S,
}

impl<S> Service<Request> for BearerAuthService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let clone = self.inner.clone();
        // The clone that was polled ready serves this request.
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let bearer = BearerAuth::bearer(request.headers());
        Box::pin(async move {
            let checked = match bearer {
                Bearer::Token(token) => auth.check(token).await,
                Bearer::Missing => Err(auth.challenge_only()),
                Bearer::Malformed => Err(auth.invalid_request()),
            };
            match checked {
                Ok(token) => {
                    request.extensions_mut().insert(token);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_follows_rfc_9728() {
        assert_eq!(
            metadata_url("https://files.example.com"),
            "https://files.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_url("https://api.example.com/v1/"),
            "https://api.example.com/.well-known/oauth-protected-resource/v1"
        );
    }

    #[test]
    fn quoting_keeps_the_header_valid() {
        assert_eq!(quoted("kid \"x\\y\"\r\n"), "kid \\\"x\\\\y\\\"");
    }
}
