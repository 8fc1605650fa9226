//! The HTTP client side of the auth4agent API as the load generator's setup uses it: signed administrative
//! calls, and single issuances (saved token, tokens to introspect), over one pooled keep-alive
//! `reqwest::Client`. The measured loop has its own leaner client ([`crate::load`], [`crate::http1`]).

use std::time::Duration;

use anyhow::{Context as _, bail};
use auth4agent_protocol::{
    ProofClaims, SIGNATURE_HEADER, SigningKey, b64url_encode, sign_proof, sign_request,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock;

/// Why one measured exchange failed, as a short label for counting (`http_409_challenge_used`, `transport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

/// A client for one server: `base` is where to connect, `issuer` what signatures bind (`htu`, proof `aud`).
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    issuer: String,
}

/// A challenge as returned by `POST /v1/challenge`.
#[derive(Deserialize, Debug)]
pub struct ChallengeResponse {
    pub challenge_id: String,
    pub nonce: String,
    pub expires_at: u64,
}

/// A token as returned by `POST /v1/token`.
#[derive(Deserialize, Debug)]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: u64,
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
}

/// What the measured loop asks for in each proof.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub scope: String,
    pub token_aud: String,
}

impl Api {
    /// Connects to `base` (e.g. `http://127.0.0.1:8080`) and reads the issuer from the discovery document.
    pub async fn connect(base: &str, pool: usize) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(90))
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        let base = base.trim_end_matches('/').to_owned();
        let doc: Value = http
            .get(format!("{base}/.well-known/auth4agent-configuration"))
            .send()
            .await
            .with_context(|| format!("GET {base}/.well-known/auth4agent-configuration"))?
            .error_for_status()?
            .json()
            .await?;
        let issuer = doc["issuer"]
            .as_str()
            .context("discovery document without issuer")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Api { http, base, issuer })
    }

    /// The server's issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The raw JWKS document (`GET /.well-known/jwks.json`).
    pub async fn jwks(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(format!("{}/.well-known/jwks.json", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// Sends a request signed by `key`, returning status and JSON body (`Null` when empty).
    async fn signed(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: &SigningKey,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let bytes = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        let jti = b64url_encode(&rand::random::<[u8; 16]>());
        let htu = format!("{}{path}", self.issuer);
        let sig = sign_request(key, method.as_str(), &htu, &bytes, clock::now(), &jti)?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(SIGNATURE_HEADER, sig);
        if !bytes.is_empty() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.bytes().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&text)
                .unwrap_or(Value::String(String::from_utf8_lossy(&text).into_owned()))
        };
        Ok((status, value))
    }

    async fn signed_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: &SigningKey,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.signed(method.clone(), path, body, key).await?;
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {value}");
        }
        Ok(value)
    }

    /// `POST /v1/operators`; returns the operator id.
    pub async fn register_operator(
        &self,
        key: &SigningKey,
        domain: &str,
    ) -> anyhow::Result<String> {
        let body = json!({"domain": domain, "public_key": key.public_key().to_jwk()});
        let v = self
            .signed_ok(Method::POST, "/v1/operators", Some(&body), key)
            .await?;
        Ok(v["id"].as_str().context("operator id")?.to_owned())
    }

    /// `GET /v1/operators/{id}/verification`; returns the TXT record name and value to publish.
    pub async fn verification(
        &self,
        id: &str,
        key: &SigningKey,
    ) -> anyhow::Result<(String, String)> {
        let v = self
            .signed_ok(
                Method::GET,
                &format!("/v1/operators/{id}/verification"),
                None,
                key,
            )
            .await?;
        Ok((
            v["txt_record_name"]
                .as_str()
                .context("txt_record_name")?
                .to_owned(),
            v["txt_record_value"]
                .as_str()
                .context("txt_record_value")?
                .to_owned(),
        ))
    }

    /// `POST /v1/operators/{id}/verification`; returns the operator status.
    pub async fn confirm_verification(&self, id: &str, key: &SigningKey) -> anyhow::Result<String> {
        let v = self
            .signed_ok(
                Method::POST,
                &format!("/v1/operators/{id}/verification"),
                None,
                key,
            )
            .await?;
        Ok(v["status"].as_str().context("status")?.to_owned())
    }

    /// `POST /v1/agents`, signed by the agent key.
    pub async fn register_agent(&self, key: &SigningKey, operator_id: &str) -> anyhow::Result<()> {
        let body = json!({"operator_id": operator_id, "public_key": key.public_key().to_jwk()});
        self.signed_ok(Method::POST, "/v1/agents", Some(&body), key)
            .await
            .map(drop)
    }

    /// `PUT /v1/agents/{did}/scopes`, signed by the operator key; activates a pending agent.
    pub async fn set_scopes(
        &self,
        did: &str,
        operator_key: &SigningKey,
        scopes: &[&str],
    ) -> anyhow::Result<String> {
        let body = json!({"allowed_scopes": scopes});
        let v = self
            .signed_ok(
                Method::PUT,
                &format!("/v1/agents/{did}/scopes"),
                Some(&body),
                operator_key,
            )
            .await?;
        Ok(v["status"].as_str().context("agent status")?.to_owned())
    }

    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, Failure> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|_| Failure("transport".into()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| Failure("transport".into()))?;
        if !status.is_success() {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(Failure(format!("http_{}_{code}", status.as_u16())));
        }
        serde_json::from_slice(&bytes).map_err(|_| Failure("bad_response".into()))
    }

    /// `POST /v1/challenge` for `did`.
    pub async fn challenge(&self, did: &str) -> Result<ChallengeResponse, Failure> {
        let body = serde_json::to_vec(&json!({"did": did})).expect("serializable");
        self.post_json("/v1/challenge", body).await
    }

    /// `POST /v1/token` with a proof answering `challenge`, signed by the agent key.
    pub async fn token(
        &self,
        key: &SigningKey,
        did: &str,
        challenge: &ChallengeResponse,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Failure> {
        let now = clock::now();
        let claims = ProofClaims {
            iss: did.to_owned(),
            sub: did.to_owned(),
            aud: self.issuer.clone(),
            challenge_id: challenge.challenge_id.clone(),
            nonce: challenge.nonce.clone(),
            scope: request.scope.clone(),
            token_aud: request.token_aud.clone(),
            ttl: 0,
            iat: now,
            exp: now + 60,
        };
        let proof = sign_proof(key, &claims).map_err(|e| Failure(format!("sign_{}", e.code())))?;
        let body = serde_json::to_vec(&json!({"proof": proof})).expect("serializable");
        self.post_json("/v1/token", body).await
    }

    /// Challenge then token: one issuance.
    pub async fn issue(
        &self,
        key: &SigningKey,
        did: &str,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Failure> {
        let challenge = self.challenge(did).await?;
        self.token(key, did, &challenge, request).await
    }

    /// `POST /v1/introspect`; `Ok(true)` when the server says the token is active.
    pub async fn introspect(&self, token: &str) -> Result<bool, Failure> {
        let body = serde_json::to_vec(&json!({"token": token})).expect("serializable");
        let v: Introspection = self.post_json("/v1/introspect", body).await?;
        Ok(v.active)
    }
}
