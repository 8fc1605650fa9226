//! The HTTP client side of the auth4agent API as the load generator's setup uses it: signed administrative
//! calls, and single issuances (saved token, tokens to introspect), over one pooled keep-alive
//! `reqwest::Client`. The measured loop has its own leaner client ([`crate::load`], [`crate::http1`]).

use std::time::Duration;

use anyhow::{Context as _, bail};
use auth4agent_api::agents::{Agent, RegisterAgent, SetScopes};
use auth4agent_api::discovery::Configuration;
use auth4agent_api::error::ErrorBody;
use auth4agent_api::operators::{Operator, RegisterOperator, VerificationInstructions};
use auth4agent_api::routes;
use auth4agent_api::tokens::{ChallengeRequest, IntrospectRequest, Introspection};
pub use auth4agent_api::tokens::{ChallengeResponse, TokenResponse};
use auth4agent_protocol::{
    Did, ProofClaims, ReceivedChallenge, RequestedToken, SIGNATURE_HEADER, ScopeSet, SigningKey,
    b64url_encode, sign_proof, sign_request,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// What the measured loop asks for in each proof.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub scope: ScopeSet,
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
        let doc: Configuration = http
            .get(format!("{base}{}", routes::CONFIGURATION))
            .send()
            .await
            .with_context(|| format!("GET {base}{}", routes::CONFIGURATION))?
            .error_for_status()?
            .json()
            .await?;
        if doc.issuer.is_empty() {
            bail!("discovery document without issuer");
        }
        let issuer = doc.issuer.trim_end_matches('/').to_owned();
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
            .get(format!("{}{}", self.base, routes::JWKS))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// Sends a request signed by `key` (an empty body when `body` is `None`); returns status and body bytes.
    async fn signed(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        key: &SigningKey,
    ) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let bytes = body.unwrap_or_default();
        let jti = b64url_encode(&rand::random::<[u8; 16]>());
        let htu = format!("{}{path}", self.issuer);
        let sig = sign_request(key, method.as_str(), &htu, &bytes, clock::unix_time(), &jti)?;
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
        Ok((status, resp.bytes().await?.to_vec()))
    }

    /// A signed call that must succeed, its answer parsed as `T`.
    async fn signed_ok<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        key: &SigningKey,
    ) -> anyhow::Result<T> {
        let body = body.map(serde_json::to_vec).transpose()?;
        let (status, bytes) = self.signed(method.clone(), path, body, key).await?;
        if !status.is_success() {
            bail!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: answer"))
    }

    /// `POST /v1/operators`; returns the operator id.
    pub async fn register_operator(
        &self,
        key: &SigningKey,
        domain: &str,
    ) -> anyhow::Result<String> {
        let body = RegisterOperator {
            domain: domain.to_owned(),
            public_key: key.public_key().to_jwk(),
        };
        let operator: Operator = self
            .signed_ok(Method::POST, routes::OPERATORS, Some(&body), key)
            .await?;
        Ok(operator.id)
    }

    /// `GET /v1/operators/{id}/verification`; returns the TXT record name and value to publish.
    pub async fn verification(
        &self,
        id: &str,
        key: &SigningKey,
    ) -> anyhow::Result<(String, String)> {
        let v: VerificationInstructions = self
            .signed_ok(
                Method::GET,
                &routes::operator_verification(id),
                None::<&()>,
                key,
            )
            .await?;
        Ok((v.txt_record_name, v.txt_record_value))
    }

    /// `POST /v1/operators/{id}/verification`; returns the operator status.
    pub async fn confirm_verification(&self, id: &str, key: &SigningKey) -> anyhow::Result<String> {
        let operator: Operator = self
            .signed_ok(
                Method::POST,
                &routes::operator_verification(id),
                None::<&()>,
                key,
            )
            .await?;
        Ok(operator.status.as_str().to_owned())
    }

    /// `POST /v1/agents`, signed by the agent key.
    pub async fn register_agent(&self, key: &SigningKey, operator_id: &str) -> anyhow::Result<()> {
        let body = RegisterAgent {
            domain: None,
            name: None,
            operator_id: Some(operator_id.to_owned()),
            public_key: key.public_key().to_jwk(),
            requested_scopes: None,
        };
        self.signed_ok::<Agent>(Method::POST, routes::AGENTS, Some(&body), key)
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
        let body = SetScopes {
            allowed_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            approval_scopes: None,
        };
        let agent: Agent = self
            .signed_ok(
                Method::PUT,
                &routes::agent_scopes(did),
                Some(&body),
                operator_key,
            )
            .await?;
        Ok(agent.status.as_str().to_owned())
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
            let code = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|body| body.error)
                .unwrap_or_default();
            return Err(Failure(format!("http_{}_{code}", status.as_u16())));
        }
        serde_json::from_slice(&bytes).map_err(|_| Failure("bad_response".into()))
    }

    /// `POST /v1/challenge` for `did`.
    pub async fn challenge(&self, did: &str) -> Result<ChallengeResponse, Failure> {
        let body = ChallengeRequest {
            did: did.to_owned(),
        };
        let body = serde_json::to_vec(&body).expect("serializable");
        self.post_json(routes::CHALLENGE, body).await
    }

    /// `POST /v1/token` with a proof answering `challenge`, signed by the agent key.
    pub async fn token(
        &self,
        key: &SigningKey,
        did: &Did,
        challenge: &ChallengeResponse,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Failure> {
        let claims = ProofClaims::answer(
            did,
            ReceivedChallenge {
                id: &challenge.challenge_id,
                nonce: &challenge.nonce,
            },
            &self.issuer,
            RequestedToken {
                scope: &request.scope,
                audience: &request.token_aud,
                ttl: None,
            },
            clock::unix_time(),
        );
        let proof = sign_proof(key, &claims).map_err(|e| Failure(format!("sign_{}", e.code())))?;
        let body = auth4agent_api::tokens::TokenRequest { proof };
        let body = serde_json::to_vec(&body).expect("serializable");
        self.post_json(routes::TOKEN, body).await
    }

    /// Challenge then token: one issuance.
    pub async fn issue(
        &self,
        key: &SigningKey,
        did: &Did,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Failure> {
        let challenge = self.challenge(did.as_str()).await?;
        self.token(key, did, &challenge, request).await
    }

    /// `POST /v1/introspect`; `Ok(true)` when the server says the token is active.
    pub async fn introspect(&self, token: &str) -> Result<bool, Failure> {
        let body = IntrospectRequest {
            token: token.to_owned(),
        };
        let body = serde_json::to_vec(&body).expect("serializable");
        let v: Introspection = self.post_json(routes::INTROSPECT, body).await?;
        Ok(v.is_active())
    }
}
