//! The in-process router harness: the real router (`app::build`) over a real SQLite file in a temp
//! dir, a manual clock, and the testkit's loopback DNS server; requests and proofs are signed with
//! the testkit's signing helpers at the harness clock's time.
//!
//! It stays here, not in the testkit, because it is built from the server crate's internals
//! (`app::build`, `AppState`, `ManualClock`, `SqliteStore`), and the testkit must not depend on the
//! server (the server's tests depend on the testkit).

#![allow(dead_code)]

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use auth4agent_protocol::{SIGNATURE_HEADER, SigningKey, UnixTime};
use auth4agent_server::app::{self, AppState};
use auth4agent_server::clock::{Clock as _, ManualClock, SharedClock};
use auth4agent_server::config::Config;
use auth4agent_server::dns::DnsVerifier;
use auth4agent_server::store::{SqliteStore, Store};
use auth4agent_testkit::sign::{self, ProofRequest};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub use auth4agent_testkit::{TestDns, TxtRecord};

pub const ISSUER: &str = "http://auth4agent.test";
pub const START: u64 = 1_800_000_000;

/// A fresh request jti.
pub fn jti() -> String {
    sign::fresh_jti()
}

pub fn new_key() -> SigningKey {
    sign::random_key()
}

/// A response, with its body parsed as JSON (`Value::Null` if empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// Asserts status and error code, and that the body has a message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.json);
        assert_eq!(self.code(), code, "error code; body: {}", self.json);
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message: {}",
            self.json
        );
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "errors are JSON"
        );
    }

    #[track_caller]
    pub fn assert_ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.json);
        &self.json
    }
}

pub struct Operator {
    pub id: String,
    pub domain: String,
    pub key: SigningKey,
}

pub struct Agent {
    pub did: String,
    pub key: SigningKey,
}

pub struct Harness {
    pub app: Router,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub dns: TestDns,
    pub store: Arc<dyn Store>,
    pub db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The default test configuration: rate limiting off, short timeouts.
pub fn test_config() -> Config {
    let mut config = Config::new(ISSUER);
    config.rate_limit = 0.0;
    config.request_timeout = Duration::from_secs(2);
    config
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("auth4agent.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_serving(&db).unwrap());
        let clock = Arc::new(ManualClock::new(START));
        let dns = TestDns::start();
        let verifier = DnsVerifier::new(vec![dns.addr()]).with_timeout(Duration::from_secs(1));
        let shared: SharedClock = clock.clone();
        let (app, state) = app::build(config, Arc::clone(&store), shared, verifier)
            .await
            .unwrap();
        Harness {
            app,
            state,
            clock,
            dns,
            store,
            db,
            _dir: dir,
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        send(&self.app, req).await
    }

    /// A signed request: JSON body (if any) serialized once, its exact bytes signed.
    pub fn signed(
        &self,
        key: &SigningKey,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Request<Body> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let sig = sign::request_signature(
            key,
            method,
            &format!("{ISSUER}{path}"),
            &bytes,
            UnixTime::from_secs(self.now()),
        );
        raw_request(method, path, bytes, Some(&sig))
    }

    pub async fn register_operator(&self, domain: &str) -> Operator {
        let key = new_key();
        let body = json!({"domain": domain, "public_key": key.public_key().to_jwk()});
        let resp = self
            .send(self.signed(&key, "POST", "/v1/operators", Some(&body)))
            .await;
        let json = resp.assert_ok(201);
        Operator {
            id: json["id"].as_str().unwrap().to_owned(),
            domain: domain.to_owned(),
            key,
        }
    }

    /// Publishes the operator's TXT record in the test DNS and confirms it.
    pub async fn verify_operator(&self, op: &Operator) {
        let path = format!("/v1/operators/{}/verification", op.id);
        let resp = self.send(self.signed(&op.key, "GET", &path, None)).await;
        let instr = resp.assert_ok(200).clone();
        self.dns.set_txt(
            instr["txt_record_name"].as_str().unwrap(),
            vec![TxtRecord::from(instr["txt_record_value"].as_str().unwrap())],
        );
        let resp = self.send(self.signed(&op.key, "POST", &path, None)).await;
        assert_eq!(resp.assert_ok(200)["status"], "verified");
    }

    pub async fn register_agent(&self, op: &Operator) -> Agent {
        let key = new_key();
        let body = json!({"operator_id": op.id, "public_key": key.public_key().to_jwk()});
        let resp = self
            .send(self.signed(&key, "POST", "/v1/agents", Some(&body)))
            .await;
        let json = resp.assert_ok(201);
        Agent {
            did: json["did"].as_str().unwrap().to_owned(),
            key,
        }
    }

    pub async fn set_scopes(&self, op: &Operator, agent: &Agent, scopes: &[&str]) -> Resp {
        let body = json!({"allowed_scopes": scopes});
        self.send(self.signed(
            &op.key,
            "PUT",
            &format!("/v1/agents/{}/scopes", agent.did),
            Some(&body),
        ))
        .await
    }

    /// A verified operator with one active agent allowed `scopes`.
    pub async fn active_agent(&self, domain: &str, scopes: &[&str]) -> (Operator, Agent) {
        let op = self.register_operator(domain).await;
        self.verify_operator(&op).await;
        let agent = self.register_agent(&op).await;
        self.set_scopes(&op, &agent, scopes).await.assert_ok(200);
        (op, agent)
    }

    pub async fn challenge(&self, did: &str) -> Value {
        let resp = self
            .send(json_request("POST", "/v1/challenge", &json!({"did": did})))
            .await;
        resp.assert_ok(200).clone()
    }

    pub fn proof(
        &self,
        agent: &Agent,
        challenge: &Value,
        scope: &str,
        ttl: Option<NonZeroU64>,
    ) -> String {
        let request = ProofRequest {
            did: &agent.did,
            issuer: ISSUER,
            challenge_id: challenge["challenge_id"].as_str().unwrap(),
            nonce: challenge["nonce"].as_str().unwrap(),
            scope,
            token_aud: "https://api.example.com",
            ttl,
        };
        sign::proof(&agent.key, &request, UnixTime::from_secs(self.now()))
    }

    /// [`Self::proof`] asking for the default lifetime the other way the wire allows: `"ttl": 0`
    /// (the protocol crate writes no `ttl` for the default, so this one is re-signed by hand).
    pub fn proof_with_ttl_zero(&self, agent: &Agent, challenge: &Value, scope: &str) -> String {
        let proof = self.proof(agent, challenge, scope, None);
        let (header, rest) = proof.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        let mut claims: Value =
            serde_json::from_slice(&auth4agent_protocol::b64url_decode(payload).unwrap()).unwrap();
        claims["ttl"] = json!(0);
        let payload = auth4agent_protocol::b64url_encode(&serde_json::to_vec(&claims).unwrap());
        let signing_input = format!("{header}.{payload}");
        let signature = agent.key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            auth4agent_protocol::b64url_encode(&signature)
        )
    }

    pub async fn token_with_proof(&self, proof: &str) -> Resp {
        self.send(json_request("POST", "/v1/token", &json!({"proof": proof})))
            .await
    }

    /// Challenge, proof and token in one go; panics unless a token is issued.
    pub async fn token(&self, agent: &Agent, scope: &str) -> String {
        let ch = self.challenge(&agent.did).await;
        let proof = self.proof(agent, &ch, scope, None);
        let resp = self.token_with_proof(&proof).await;
        resp.assert_ok(200)["token"].as_str().unwrap().to_owned()
    }

    pub async fn introspect(&self, token: &str) -> Value {
        let resp = self
            .send(json_request(
                "POST",
                "/v1/introspect",
                &json!({"token": token}),
            ))
            .await;
        resp.assert_ok(200).clone()
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        json,
    }
}

/// A request with raw body bytes (sent as application/json when non-empty) and an optional signature.
pub fn raw_request(
    method: &str,
    path: &str,
    body: Vec<u8>,
    signature: Option<&str>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(sig) = signature {
        builder = builder.header(SIGNATURE_HEADER, sig);
    }
    builder.body(Body::from(body)).unwrap()
}

/// An unsigned JSON request.
pub fn json_request(method: &str, path: &str, body: &Value) -> Request<Body> {
    raw_request(method, path, serde_json::to_vec(body).unwrap(), None)
}
