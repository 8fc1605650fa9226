//! HTTP to the auth4agent server (blocking reqwest): plain and signed requests (`Auth4Agent-Signature`), discovery,
//! JWKS download, and the mapping of transport failures and `{error, message}` bodies to [`CliError`]s with hints.
//!
//! Constructing a [`Client`] is the expensive part (TLS roots, a runtime thread): commands build one only when they
//! actually talk to the network, so offline `verify` never does.

use std::time::Duration;

use auth4agent_protocol::SigningKey;
use reqwest::Method;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::Value;

use crate::clock;
use crate::error::{CliError, Result};

const SIGNATURE_HEADER: &str = "Auth4Agent-Signature";
const DISCOVERY_PATH: &str = "/.well-known/auth4agent-configuration";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

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
        let doc = self.get(DISCOVERY_PATH)?;
        match doc.get("issuer").and_then(Value::as_str) {
            Some(issuer) if !issuer.is_empty() => Ok(issuer.trim_end_matches('/').to_string()),
            _ => Err(CliError::network(
                "unexpected_response",
                format!("{}{DISCOVERY_PATH} has no issuer", self.base),
            )
            .with_hint("check that --server points at an auth4agent server")),
        }
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.json(self.http.get(self.url(path)), path)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.json(self.http.post(self.url(path)).json(body), path)
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
        response.text().map_err(|e| self.transport(&e))
    }

    /// Sends a request signed with `signer`: the `Auth4Agent-Signature` JWS binds method, URL (issuer + path),
    /// the SHA-256 of the exact body bytes, the time and a single-use jti.
    pub fn signed(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        signer: &Signer<'_>,
    ) -> Result<Value> {
        let bytes = match body {
            Some(value) => serde_json::to_vec(value).expect("JSON serializes"),
            None => Vec::new(),
        };
        let htu = format!("{}{path}", signer.issuer.trim_end_matches('/'));
        let jti = auth4agent_protocol::b64url_encode(&rand::random::<[u8; 16]>());
        let signature = auth4agent_protocol::sign_request(
            signer.key,
            method.as_str(),
            &htu,
            &bytes,
            clock::now(),
            &jti,
        )
        .map_err(|e| CliError::protocol(&e))?;
        let mut request = self
            .http
            .request(method, self.url(path))
            .header(SIGNATURE_HEADER, signature);
        if body.is_some() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        self.json(request, path)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn json(&self, request: RequestBuilder, path: &str) -> Result<Value> {
        let url = self.url(path);
        let response = request.send().map_err(|e| self.transport(&e))?;
        let response = check_status(response, &url)?;
        response.json::<Value>().map_err(|e| {
            CliError::network(
                "unexpected_response",
                format!("{url} did not answer with JSON: {e}"),
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

/// Passes 2xx responses through; turns an error status into the server's `{error, message}` with a hint.
fn check_status(response: Response, url: &str) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Option<Value> = response.json().ok();
    let code = body
        .as_ref()
        .and_then(|b| b.get("error"))
        .and_then(Value::as_str);
    let Some(code) = code else {
        return Err(CliError::network(
            "unexpected_response",
            format!("{url} answered HTTP {status} without an auth4agent error body"),
        )
        .with_hint("check that --server points at an auth4agent server"));
    };
    let message = body
        .as_ref()
        .and_then(|b| b.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the server refused the request");
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

/// What to do next, for each server error code that has a useful answer.
pub fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "operator_not_verified" => {
            "publish the TXT record from `auth4agent verify-operator instructions`, then run `auth4agent verify-operator confirm`"
        }
        "agent_not_active" => {
            "the operator must approve the agent with `auth4agent agent-scopes set --did DID --scopes ...` (or reactivate it)"
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
        "request_expired" | "invalid_signature" | "invalid_proof" => {
            "check that this machine's clock is correct, and that the key in the home directory is the registered one"
        }
        "htu_mismatch" => {
            "the server's issuer URL differs from --server; use the server's public URL"
        }
        "request_replayed" | "challenge_used" | "challenge_expired" | "challenge_not_found" => {
            "run the command again"
        }
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

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
