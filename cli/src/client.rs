//! HTTP to the auth4agent server (blocking reqwest): plain and signed requests (`Auth4Agent-Signature`), discovery,
//! JWKS download, and the mapping of transport failures and `{error, message}` bodies to [`CliError`]s with hints.
//!
//! Constructing a [`Client`] is the expensive part (TLS roots, a runtime thread): commands build one only when they
//! actually talk to the network, so offline `verify` never does.

use std::io::Read as _;
use std::time::Duration;

use auth4agent_api::OAuthErrorBody;
use auth4agent_api::discovery::Configuration;
use auth4agent_api::error::ErrorBody;
use auth4agent_api::routes::{self, Method};
use auth4agent_protocol::{SIGNATURE_HEADER, SigningKey};
use reqwest::blocking::{RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock;
use crate::error::{CliError, Result};

/// The largest response body the CLI reads; anything longer is refused unread (a hostile server could send
/// hundreds of MiB as a "JWKS").
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// Redirects followed within one origin at most; a redirect to another origin is never followed.
const MAX_REDIRECTS: usize = 5;

/// A connection to one server (base URL without a trailing slash).
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
}

/// The key that signs an administrative request, and the issuer URL its `htu` is built on.
pub struct Signer<'a> {
    pub key: &'a SigningKey,
    pub issuer: &'a str,
}

impl Client {
    pub fn new(base: &str) -> Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("auth4agent-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let origin = |url: &reqwest::Url| url.origin();
                let first = attempt.previous().first().map(origin);
                if first.is_some_and(|first| first != origin(attempt.url()))
                    || attempt.previous().len() > MAX_REDIRECTS
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| {
                CliError::network("http_client_error", format!("cannot set up HTTP: {e}"))
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The server's issuer URL, from its discovery document.
    pub fn issuer(&self) -> Result<String> {
        let doc: Configuration = self.get(routes::CONFIGURATION)?;
        if doc.issuer.is_empty() {
            return Err(CliError::network(
                "unexpected_response",
                format!("{}{} has no issuer", self.base, routes::CONFIGURATION),
            )
            .with_hint("check that --server points at an auth4agent server"));
        }
        Ok(doc.issuer.trim_end_matches('/').to_string())
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.answer(self.http.get(self.url(path)), path)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let request = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body_bytes(body));
        self.answer(request, path)
    }

    /// Posts an `application/x-www-form-urlencoded` body (the OAuth endpoints').
    pub fn post_form<T: DeserializeOwned>(&self, path: &str, form: String) -> Result<T> {
        self.post_form_with(path, form, None)
    }

    /// Posts an `application/x-www-form-urlencoded` body (the OAuth token endpoint's), with a `DPoP` proof header
    /// (RFC 9449 §5) when `dpop` is given.
    pub fn post_form_with<T: DeserializeOwned>(
        &self,
        path: &str,
        form: String,
        dpop: Option<&str>,
    ) -> Result<T> {
        let mut request = self
            .http
            .post(self.url(path))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        if let Some(proof) = dpop {
            request = request.header(auth4agent_protocol::DPOP_HEADER, proof);
        }
        self.answer(request, path)
    }

    /// The body of `url` (absolute) or of `path` on this server, as text, after checking the status.
    pub fn get_text(&self, path_or_url: &str) -> Result<String> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            self.url(path_or_url)
        };
        let response = self.http.get(&url).send().map_err(|e| self.transport(&e))?;
        let response = check_status(response, &url)?;
        let bytes = read_capped(response, &url)?;
        String::from_utf8(bytes).map_err(|_| {
            CliError::network(
                "unexpected_response",
                format!("{url} answered with a body that is not UTF-8"),
            )
        })
    }

    /// A signed request with the JSON `body`.
    pub fn signed_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
        signer: &Signer<'_>,
    ) -> Result<T> {
        self.signed_bytes(method, path, Some(body_bytes(body)), signer)
    }

    /// A signed request with an empty body (zero bytes, no `Content-Type`).
    pub fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        signer: &Signer<'_>,
    ) -> Result<T> {
        self.signed_bytes(method, path, None, signer)
    }

    /// Sends a request signed with `signer`: the `Auth4Agent-Signature` JWS binds method, URL (issuer + path),
    /// the SHA-256 of the exact body bytes, the time and a single-use jti.
    fn signed_bytes<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        signer: &Signer<'_>,
    ) -> Result<T> {
        // `htu` is the issuer and the path, without the query (which the signature does not cover).
        let signed_path = path.split('?').next().unwrap_or(path);
        let htu = format!("{}{signed_path}", signer.issuer.trim_end_matches('/'));
        let jti = auth4agent_protocol::b64url_encode(&rand::random::<[u8; 16]>());
        let signature = auth4agent_protocol::sign_request(
            signer.key,
            method.as_str(),
            &htu,
            body.as_deref().unwrap_or_default(),
            clock::unix_time(),
            &jti,
        )
        .map_err(|e| CliError::protocol(&e))?;
        let method = match method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        };
        let mut request = self
            .http
            .request(method, self.url(path))
            .header(SIGNATURE_HEADER, signature);
        if let Some(bytes) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        self.answer(request, path)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request` and parses a success answer as `T`.
    fn answer<T: DeserializeOwned>(&self, request: RequestBuilder, path: &str) -> Result<T> {
        let url = self.url(path);
        let response = request.send().map_err(|e| self.transport(&e))?;
        let response = check_status(response, &url)?;
        let bytes = read_capped(response, &url)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::network(
                "unexpected_response",
                format!("{url} did not answer with the expected JSON: {e}"),
            )
            .with_hint("check that --server points at an auth4agent server")
        })
    }

    fn transport(&self, err: &reqwest::Error) -> CliError {
        let hint = "check that the server is running and the URL is right (--server URL, or `auth4agent set-server --url URL`)";
        if err.is_timeout() {
            CliError::network(
                "server_timeout",
                format!("{} did not answer in time", self.base),
            )
            .with_hint(hint)
        } else if err.is_connect() {
            CliError::network(
                "server_unreachable",
                format!("cannot connect to {}: {}", self.base, root_cause(err)),
            )
            .with_hint(hint)
        } else {
            CliError::network(
                "network_error",
                format!("request to {} failed: {}", self.base, root_cause(err)),
            )
            .with_hint(hint)
        }
    }
}

/// A request body's bytes. Serialized through a `Value`, whose members are sorted: the bytes (and so `ath`) are
/// those the CLI has always sent, and those of spec/examples/signed_request.json.
fn body_bytes(body: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(body).expect("request bodies serialize to JSON");
    serde_json::to_vec(&value).expect("JSON serializes")
}

/// The body of `response`, refused with `response_too_large` past [`MAX_RESPONSE_BYTES`] (announced or read).
pub fn read_capped(response: Response, url: &str) -> Result<Vec<u8>> {
    let too_large = || {
        CliError::network(
            "response_too_large",
            format!("{url} answered with more than {MAX_RESPONSE_BYTES} bytes; refused unread"),
        )
        .with_hint("check that --server (or --jwks URL) points at an auth4agent server")
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    response
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            CliError::network(
                "network_error",
                format!("reading the answer of {url} failed: {e}"),
            )
        })?;
    if bytes.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Passes 2xx responses through; turns an error status into the server's `{error, message}` with a hint.
fn check_status(response: Response, url: &str) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nowhere");
        return Err(CliError::network(
            "redirect_refused",
            format!(
                "{url} redirected (HTTP {}) to {}; the CLI follows redirects only within the same origin",
                status.as_u16(),
                crate::output::terminal_safe(location)
            ),
        )
        .with_hint("use the server's own URL (--server URL, or `auth4agent set-server --url URL`)"));
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Option<ErrorBody> = read_capped(response, url)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(error_body);
    let Some(body) = body else {
        return Err(CliError::network(
            "unexpected_response",
            format!("{url} answered HTTP {status} without an auth4agent error body"),
        )
        .with_hint("check that --server points at an auth4agent server"));
    };
    let code = body.error.as_str();
    let message = if body.message.is_empty() {
        "the server refused the request"
    } else {
        &body.message
    };
    let mut err = CliError::failure(
        code,
        format!("server refused (HTTP {}): {message}", status.as_u16()),
    );
    if let Some(hint) = hint_for(code) {
        err = err.with_hint(hint);
    }
    if let (Some(after), "rate_limited") = (retry_after, code) {
        err = err.with_hint(format!("wait {after}s and retry"));
    }
    Err(err)
}

/// The `{error, message}` of an error body; an OAuth endpoint's RFC 6749 §5.2 body gives its `auth4agent_error`
/// and `error_description` instead.
fn error_body(value: serde_json::Value) -> Option<ErrorBody> {
    if let Ok(oauth) = serde_json::from_value::<OAuthErrorBody>(value.clone()) {
        return Some(ErrorBody {
            error: oauth.auth4agent_error,
            message: oauth.error_description,
        });
    }
    serde_json::from_value(value).ok()
}

/// What to do next, for each server error code that has a useful answer.
pub fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "operator_not_verified" => {
            "publish the TXT record from `auth4agent verify-operator instructions`, then run `auth4agent verify-operator confirm`"
        }
        "agent_not_active" => {
            "the operator must approve the agent with `auth4agent agent-scopes set --did DID --scopes ...` (or reactivate it)"
        }
        "approval_required" => {
            "this scope needs the operator's approval: `auth4agent issue` asks for it (device authorization) and waits"
        }
        "access_denied" => "the operator denied the request",
        "expired_token" => {
            "the request expired before the operator decided: run `auth4agent issue` again"
        }
        "approval_not_found" => {
            "check the code with `auth4agent approvals list` (only your agents' pending requests are listed)"
        }
        "scope_not_allowed" => {
            "request only allowed scopes (`auth4agent agent-scopes list`), or ask the operator to allow this one"
        }
        "agent_not_found" => {
            "register the agent first: `auth4agent register agent --operator-id ID`"
        }
        "operator_not_found" => {
            "register the operator first (`auth4agent register operator`), or check the operator id"
        }
        "forbidden" => {
            "this action must be signed by another key: administrative actions need the operator's key"
        }
        "dns_record_not_found" => {
            "publish the TXT record from `auth4agent verify-operator instructions`, then retry (DNS may take a while: use --wait 5m)"
        }
        "dns_record_mismatch" => {
            "the TXT record's value differs from `auth4agent verify-operator instructions`; fix the record and retry"
        }
        "dns_lookup_failed" => "the server could not query DNS; retry later",
        "public_suffix_domain" => {
            "use a domain you control below the public suffix, e.g. example.com"
        }
        "invalid_domain" => "use a plain DNS name such as example.com (no scheme, port or path)",
        "operator_exists" => {
            "this operator is already registered; `auth4agent verify-operator status` shows it"
        }
        "agent_exists" => {
            "this agent is already registered; `auth4agent agent-scopes list` shows it"
        }
        "request_expired" | "invalid_signature" | "invalid_proof" | "invalid_client_assertion" => {
            "check that this machine's clock is correct, and that the key in the home directory is the registered one"
        }
        "htu_mismatch" => {
            "the server's issuer URL differs from --server; use the server's public URL"
        }
        "invalid_dpop_proof" => {
            "check that this machine's clock is correct, and that --server is the server's public URL"
        }
        "request_replayed"
        | "dpop_proof_replayed"
        | "challenge_used"
        | "challenge_expired"
        | "challenge_not_found"
        | "client_assertion_replayed" => "run the command again",
        "rate_limited" => "wait a moment and retry",
        "agent_revoked" => {
            "revocation is permanent: create a new agent with `auth4agent init --force` and register it"
        }
        "invalid_ttl" => "use a shorter --ttl (the server's maximum is usually 1h)",
        "invalid_audience" => {
            "pass --aud with the identifier of the service that will accept the token"
        }
        "invalid_scope" => {
            "scopes are short tokens such as read or files:write, separated by commas"
        }
        "storage_unavailable" | "internal_error" => {
            "the server has a problem; retry later or tell its operator"
        }
        _ => return None,
    })
}

pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
