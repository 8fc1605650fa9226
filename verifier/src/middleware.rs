//! axum / tower middleware: [`BearerAuth`] verifies `Authorization: Bearer <token>` with a [`TokenVerifier`] and
//! hands the handler an [`AgentToken`]; [`BearerAuth::require_scope`] makes a route need a scope; refusals are
//! RFC 6750 §3 (`WWW-Authenticate: Bearer …` with RFC 9728's `resource_metadata`), with the auth4agent code in
//! the JSON body and the logs. [`ProtectedResource`] serves the RFC 9728 metadata.
//!
//! DPoP (RFC 9449): [`BearerAuth::require_dpop`] makes a route accept only `Authorization: DPoP <token>` with a
//! valid `DPoP` proof of the key the token is bound to (`cnf.jkt`); a Bearer token there is refused with
//! `invalid_token`. On other routes a Bearer token is accepted, and so is `Authorization: DPoP` with a proof,
//! which is then verified in full (a client that sends a proof is held to it; a DPoP token sent without one is
//! refused). Refusals of DPoP requests are RFC 9449 §7.1: `WWW-Authenticate: DPoP error="invalid_dpop_proof"` (or
//! `invalid_token`), `algs="EdDSA"`. [`BearerAuth::with_dpop`] sets the public origin `htu` is built with (default:
//! the resource's origin), the window and the replay cache's size.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth4agent_protocol::{DPOP_HEADER, DPOP_SCHEME, Did, ScopeSet, UnixTime, VerifiedToken};
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::{Layer, Service};

use crate::dpop::{DpopCheck, DpopOptions, ProofError};
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
    /// RFC 9728 §2: the algorithms of the DPoP proofs this service accepts.
    dpop_signing_alg_values_supported: Vec<&'static str>,
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
            dpop_signing_alg_values_supported: vec!["EdDSA"],
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

/// The origin (`scheme://host[:port]`) of `url`, or `url` itself if it has none.
fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) if parsed.has_host() => parsed.origin().ascii_serialization(),
        _ => url.trim_end_matches('/').to_owned(),
    }
}

/// What a request's `Authorization` header holds.
enum Credential {
    Missing,
    /// A header of a known scheme that is not `<scheme> <token>`.
    Malformed(&'static str),
    Bearer(String),
    Dpop(String),
}

/// What a request's `DPoP` header(s) hold.
enum ProofHeader {
    Missing,
    Many,
    NotAscii,
    One(String),
}

impl ProofHeader {
    fn of(headers: &axum::http::HeaderMap) -> ProofHeader {
        let mut values = headers.get_all(DPOP_HEADER).iter();
        match (values.next(), values.next()) {
            (None, _) => ProofHeader::Missing,
            (Some(_), Some(_)) => ProofHeader::Many,
            (Some(value), None) => match value.to_str() {
                Ok(value) => ProofHeader::One(value.trim().to_owned()),
                Err(_) => ProofHeader::NotAscii,
            },
        }
    }
}

/// The parts of a request the checks need (the request itself is not held across the verification).
struct Presented {
    credential: Credential,
    proof: ProofHeader,
    method: String,
    path: String,
}

/// The tower layer: verifies the bearer token of every request it wraps, optionally requiring a scope or DPoP.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    verifier: TokenVerifier,
    resource_metadata: Arc<str>,
    scope: Option<Arc<str>>,
    dpop: Arc<DpopCheck>,
    dpop_required: bool,
}

impl BearerAuth {
    /// Verifies with `verifier`; challenges name `resource`'s metadata URL; DPoP proofs are checked with
    /// [`DpopOptions::default`] and `htu` built from the resource's origin.
    pub fn new(verifier: TokenVerifier, resource: &ProtectedResource) -> BearerAuth {
        let origin = origin_of(&resource.resource);
        BearerAuth {
            verifier,
            resource_metadata: resource.metadata_url().into(),
            scope: None,
            dpop: Arc::new(DpopCheck::new(&DpopOptions::default(), &origin)),
            dpop_required: false,
        }
    }

    /// The same layer with these DPoP options (and a replay cache of its own, shared by the layers made from
    /// this one).
    pub fn with_dpop(self, options: DpopOptions) -> BearerAuth {
        let default_origin = origin_of(&self.resource_metadata);
        BearerAuth {
            dpop: Arc::new(DpopCheck::new(&options, &default_origin)),
            ..self
        }
    }

    /// The same layer, also requiring DPoP (RFC 9449): `Authorization: DPoP <token>` and a valid `DPoP` proof of
    /// the token's key for this request; a Bearer token is refused (401 `invalid_token`).
    pub fn require_dpop(&self) -> BearerAuth {
        BearerAuth {
            dpop_required: true,
            ..self.clone()
        }
    }

    /// The same layer, also requiring `scope` (403 `insufficient_scope` otherwise): one per route.
    pub fn require_scope(&self, scope: &str) -> BearerAuth {
        BearerAuth {
            scope: Some(scope.into()),
            ..self.clone()
        }
    }

    /// The credential of a request: `Bearer <token>` or `DPoP <token>`.
    fn credential(headers: &axum::http::HeaderMap) -> Credential {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Credential::Missing;
        };
        let Ok(value) = value.to_str() else {
            return Credential::Malformed("the Authorization header is not ASCII");
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let dpop = scheme.eq_ignore_ascii_case(DPOP_SCHEME);
        // RFC 6750 §3.1: another scheme is no credential of ours at all, answered like a missing one.
        if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
            return Credential::Missing;
        }
        let token = rest.trim_matches(' ');
        if token.is_empty() || token.contains(' ') {
            return Credential::Malformed(if dpop {
                "the Authorization header must be `DPoP <token>`"
            } else {
                "the Authorization header must be `Bearer <token>`"
            });
        }
        if dpop {
            Credential::Dpop(token.to_owned())
        } else {
            Credential::Bearer(token.to_owned())
        }
    }

    async fn check(&self, presented: Presented) -> Result<AgentToken, Response> {
        let (token, dpop) = match presented.credential {
            Credential::Missing => return Err(self.challenge_only()),
            Credential::Malformed(why) => return Err(self.invalid_request(why)),
            Credential::Bearer(_) if self.dpop_required => return Err(self.dpop_required()),
            Credential::Bearer(token) => (token, false),
            Credential::Dpop(token) => (token, true),
        };
        let scheme = if dpop || self.dpop_required {
            Scheme::Dpop
        } else {
            Scheme::Bearer
        };
        let verified = match self.verifier.verify(&token).await {
            Ok(verified) => verified,
            Err(error) => return Err(self.invalid_token(&error, scheme)),
        };
        if dpop {
            let checked = match &presented.proof {
                ProofHeader::Missing => Err(ProofError::Header(
                    "a DPoP-bound token needs a DPoP proof header",
                )),
                ProofHeader::Many => Err(ProofError::Header("more than one DPoP header")),
                ProofHeader::NotAscii => Err(ProofError::Header("the DPoP header is not ASCII")),
                ProofHeader::One(proof) => self.dpop.check(
                    proof,
                    &presented.method,
                    &presented.path,
                    &token,
                    &verified,
                    self.verifier.now(),
                ),
            };
            if let Err(error) = checked {
                return Err(self.invalid_dpop_proof(&error, &verified));
            }
        }
        if let Some(scope) = &self.scope
            && !verified.scopes().contains(scope)
        {
            return Err(self.insufficient_scope(scope, &verified, scheme));
        }
        Ok(AgentToken(verified))
    }

    /// RFC 6750 §3.1 (RFC 9449 §7.1 on a DPoP route): no credentials, no error code.
    fn challenge_only(&self) -> Response {
        let challenge = if self.dpop_required {
            format!(
                "DPoP algs=\"EdDSA\", resource_metadata=\"{}\"",
                quoted(&self.resource_metadata)
            )
        } else {
            format!(
                "Bearer resource_metadata=\"{}\"",
                quoted(&self.resource_metadata)
            )
        };
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        insert_challenge(&mut response, &challenge);
        response
    }

    fn invalid_request(&self, why: &str) -> Response {
        tracing::info!(auth4agent_error = "malformed_token", "refused: {why}");
        let scheme = if self.dpop_required {
            Scheme::Dpop
        } else {
            Scheme::Bearer
        };
        self.refusal(
            StatusCode::BAD_REQUEST,
            scheme,
            "invalid_request",
            why,
            "malformed_token",
            None,
        )
    }

    /// A Bearer token on a DPoP route: the token may be stolen, so it is refused as an invalid token.
    fn dpop_required(&self) -> Response {
        tracing::info!(
            auth4agent_error = "dpop_required",
            "refused: a Bearer token on a route that requires DPoP"
        );
        self.refusal(
            StatusCode::UNAUTHORIZED,
            Scheme::Dpop,
            "invalid_token",
            "this resource requires a DPoP-bound token: send `Authorization: DPoP <token>` with a DPoP proof",
            "dpop_required",
            None,
        )
    }

    fn invalid_dpop_proof(&self, error: &ProofError, token: &VerifiedToken) -> Response {
        let code = error.code();
        if let ProofError::CacheFull = error {
            tracing::warn!(auth4agent_error = code, "DPoP replay cache full");
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": error.to_string(),
                "auth4agent_error": code,
            });
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
        tracing::info!(
            auth4agent_error = code,
            agent = %token.did(),
            jti = token.jti(),
            %error,
            "refused DPoP proof"
        );
        self.refusal(
            StatusCode::UNAUTHORIZED,
            Scheme::Dpop,
            "invalid_dpop_proof",
            &error.to_string(),
            code,
            None,
        )
    }

    fn invalid_token(&self, error: &VerifyError, scheme: Scheme) -> Response {
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
            scheme,
            "invalid_token",
            &description,
            code,
            None,
        )
    }

    fn insufficient_scope(&self, scope: &str, token: &VerifiedToken, scheme: Scheme) -> Response {
        tracing::info!(
            auth4agent_error = "scope_not_allowed",
            agent = %token.did(),
            jti = token.jti(),
            required = scope,
            "refused: insufficient scope"
        );
        self.refusal(
            StatusCode::FORBIDDEN,
            scheme,
            "insufficient_scope",
            &format!("the token does not grant the scope {scope:?}"),
            "scope_not_allowed",
            Some(scope),
        )
    }

    fn refusal(
        &self,
        status: StatusCode,
        scheme: Scheme,
        error: &str,
        description: &str,
        code: &str,
        scope: Option<&str>,
    ) -> Response {
        let mut challenge = format!(
            "{} error=\"{error}\", error_description=\"{}\"",
            scheme.name(),
            quoted(description)
        );
        if let Some(scope) = scope {
            challenge.push_str(&format!(", scope=\"{}\"", quoted(scope)));
        }
        if let Scheme::Dpop = scheme {
            challenge.push_str(", algs=\"EdDSA\"");
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

/// The authentication scheme a refusal challenges with.
#[derive(Clone, Copy)]
enum Scheme {
    Bearer,
    Dpop,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => DPOP_SCHEME,
        }
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
        // The path as this layer sees it: under `Router::nest` the prefix is gone, so a DPoP route is layered
        // where its full path is seen (or `htu` never matches and every proof is refused).
        let path = request.uri().path().to_owned();
        let presented = Presented {
            credential: BearerAuth::credential(request.headers()),
            proof: ProofHeader::of(request.headers()),
            method: request.method().as_str().to_owned(),
            path,
        };
        Box::pin(async move {
            let checked = auth.check(presented).await;
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
