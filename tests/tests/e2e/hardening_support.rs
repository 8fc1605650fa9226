//! Fixtures for the hardening tests: operators, agents and tokens set up straight over HTTP with
//! keys held in memory (no CLI process per step, so floods and crash loops stay fast), and
//! non-panicking request helpers for code that runs while the server may be killed.

use std::net::SocketAddr;

use auth4agent_protocol::SIGNATURE_HEADER;
use auth4agent_testkit::{Http, HttpResponse, Signer};
use serde_json::{Value, json};

use crate::support::{AUD, World, str_field};

/// Server flags that take the rate limiter out of the way of floods that are not about it.
pub const NO_RATE_LIMIT: [&str; 6] = [
    "--rate-limit",
    "1000000",
    "--rate-limit-burst",
    "1000000",
    "--registration-rate-limit",
    "0",
];

/// An operator whose key lives in memory.
pub struct ApiOperator {
    pub signer: Signer,
    pub id: String,
    pub domain: String,
}

/// An agent whose key lives in memory.
pub struct ApiAgent {
    pub signer: Signer,
    pub did: String,
}

/// The server's loopback socket address.
pub fn addr(world: &World) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], world.server.port()))
}

/// A request signed by `signer` with a fresh `jti`; transport errors are returned, not panicked on.
pub fn try_signed(
    http: &Http,
    signer: &Signer,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Result<HttpResponse> {
    let body = body.map(|b| b.to_string().into_bytes());
    let signature = signer.sign(method, &http.url(path), body.as_deref().unwrap_or_default());
    http.send(method, path, body, &[(SIGNATURE_HEADER, &signature)])
}

/// Asserts `response` has `status` (and `error` code `code` when given); returns its JSON.
#[track_caller]
pub fn expect(response: &HttpResponse, status: u16, code: Option<&str>) -> Value {
    assert_eq!(response.status, status, "{response:?}");
    if code.is_some() {
        assert_eq!(response.error_code(), code, "{response:?}");
    }
    response.json().clone()
}

/// `POST /v1/operators` with a new key: an unverified operator.
pub fn try_register_operator(http: &Http, domain: &str) -> reqwest::Result<(Signer, HttpResponse)> {
    let signer = Signer::generate();
    let body = json!({ "domain": domain, "public_key": signer.public_jwk() });
    let response = try_signed(http, &signer, "POST", "/v1/operators", Some(&body))?;
    Ok((signer, response))
}

/// A registered operator whose domain is verified through a TXT record in the world's DNS.
pub fn verified_operator(world: &World, domain: &str) -> ApiOperator {
    let http = world.server.http();
    let (signer, registered) = try_register_operator(http, domain).expect("register operator");
    let id = str_field(&expect(&registered, 201, None), "id");
    let path = format!("/v1/operators/{id}/verification");
    let instructions = expect(
        &try_signed(http, &signer, "GET", &path, None).expect("instructions"),
        200,
        None,
    );
    world.dns.add_txt(
        &str_field(&instructions, "txt_record_name"),
        str_field(&instructions, "txt_record_value"),
    );
    let confirmed = expect(
        &try_signed(http, &signer, "POST", &path, None).expect("confirm"),
        200,
        None,
    );
    assert_eq!(confirmed["status"], "verified", "{confirmed}");
    ApiOperator {
        signer,
        id,
        domain: domain.to_owned(),
    }
}

/// `POST /v1/agents` with a new key under `operator`.
pub fn try_register_agent(
    http: &Http,
    operator: &ApiOperator,
) -> reqwest::Result<(ApiAgent, HttpResponse)> {
    let signer = Signer::generate();
    let body = json!({ "operator_id": operator.id, "public_key": signer.public_jwk() });
    let response = try_signed(http, &signer, "POST", "/v1/agents", Some(&body))?;
    let did = response
        .json
        .as_ref()
        .and_then(|j| j.get("did"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok((ApiAgent { signer, did }, response))
}

/// `PUT /v1/agents/{did}/scopes` signed by the operator.
pub fn try_set_scopes(
    http: &Http,
    operator: &ApiOperator,
    did: &str,
    scopes: &[&str],
) -> reqwest::Result<HttpResponse> {
    let body = json!({ "allowed_scopes": scopes });
    try_signed(
        http,
        &operator.signer,
        "PUT",
        &format!("/v1/agents/{did}/scopes"),
        Some(&body),
    )
}

/// A registered agent allowed `scopes` (active).
pub fn active_agent(world: &World, operator: &ApiOperator, scopes: &[&str]) -> ApiAgent {
    let http = world.server.http();
    let (agent, registered) = try_register_agent(http, operator).expect("register agent");
    expect(&registered, 201, None);
    let scoped = expect(
        &try_set_scopes(http, operator, &agent.did, scopes).expect("set scopes"),
        200,
        None,
    );
    assert_eq!(scoped["status"], "active", "{scoped}");
    agent
}

/// `POST /v1/challenge` for `did`; returns `(challenge_id, nonce)` or the refusal.
pub fn try_challenge(
    http: &Http,
    did: &str,
) -> reqwest::Result<Result<(String, String), HttpResponse>> {
    let response = http.post_json("/v1/challenge", &json!({ "did": did }), &[])?;
    if response.status != 200 {
        return Ok(Err(response));
    }
    let doc = response.json();
    Ok(Ok((
        str_field(doc, "challenge_id"),
        str_field(doc, "nonce"),
    )))
}

/// A proof for a fresh challenge (requesting `scope` for [`AUD`], default lifetime).
pub fn fresh_proof(http: &Http, issuer: &str, agent: &ApiAgent, scope: &str) -> String {
    let (challenge_id, nonce) = try_challenge(http, &agent.did)
        .expect("challenge")
        .unwrap_or_else(|refused| panic!("challenge refused: {refused:?}"));
    agent
        .signer
        .proof(&agent.did, issuer, &challenge_id, &nonce, scope, AUD, None)
}

/// Challenge, proof and `POST /v1/token`: the token response (200) or the refusal.
pub fn try_token(
    http: &Http,
    issuer: &str,
    agent: &ApiAgent,
    scope: &str,
) -> reqwest::Result<HttpResponse> {
    let (challenge_id, nonce) = match try_challenge(http, &agent.did)? {
        Ok(challenge) => challenge,
        Err(refused) => return Ok(refused),
    };
    let proof = agent
        .signer
        .proof(&agent.did, issuer, &challenge_id, &nonce, scope, AUD, None);
    http.post_json("/v1/token", &json!({ "proof": proof }), &[])
}

/// `POST /v1/introspect`: whether the server calls `token` active.
pub fn introspect_active(http: &Http, token: &str) -> bool {
    let response = http
        .post_json("/v1/introspect", &json!({ "token": token }), &[])
        .expect("introspect");
    expect(&response, 200, None)["active"] == true
}

/// `GET /.well-known/jwks.json`, body as sent.
pub fn jwks_body(http: &Http) -> String {
    let response = http.get("/.well-known/jwks.json").expect("GET jwks");
    assert_eq!(response.status, 200, "{response:?}");
    response.body
}

/// Asserts `GET /health` answers 200 `{"status":"ok"}`.
#[track_caller]
pub fn assert_healthy(http: &Http, after: &str) {
    let health = http
        .get("/health")
        .unwrap_or_else(|e| panic!("GET /health after {after}: {e}"));
    assert_eq!(health.status, 200, "GET /health after {after}: {health:?}");
    assert_eq!(health.json()["status"], "ok", "after {after}");
}
