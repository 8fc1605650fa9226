//! The verifier crate's example service (`auth4agent-verifier`'s `axum-service`) in front of a real server:
//! tokens accepted, RFC 6750 refusals, a key rotation picked up through the unknown-kid refetch, and a flood of
//! made-up kids costing at most one JWKS fetch per cooldown (counted at a tiny JWKS server of this test).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, KeySet, SigningKey, issue_token,
};
use serde_json::Value;

use crate::support::{AUD, World, str_field, token_kid, unix_now};

const META: &str =
    "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\"";

/// The example service, killed on drop.
struct Service {
    child: Child,
    url: String,
    http: reqwest::blocking::Client,
}

impl Service {
    fn start(issuer: &str, cooldown_secs: u64) -> Service {
        let bin = auth4agent_testkit::example_bin("auth4agent-verifier", "axum-service");
        let mut child = Command::new(bin)
            .args([
                "--issuer",
                issuer,
                "--audience",
                AUD,
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--refresh-cooldown", &cooldown_secs.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the axum-service example");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the service's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Service { child, url, http }
    }

    /// `METHOD path` with an optional bearer token: (status, WWW-Authenticate, JSON body or Null).
    fn call(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().expect("service reachable");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.json().unwrap_or(Value::Null);
        (status, challenge, body)
    }

    fn fetches(&self) -> u64 {
        let (status, _, health) = self.call("GET", "/health", None);
        assert_eq!(status, 200, "{health}");
        health["keys"]["fetches"].as_u64().expect("fetches")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signature character changed in the middle (base64url's last character may carry unused bits).
fn tampered(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
    format!("{head}.{}", sig.into_iter().collect::<String>())
}

/// The unverified payload (for failure messages).
fn payload(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or_default();
    String::from_utf8_lossy(&auth4agent_protocol::b64url_decode(payload).unwrap_or_default())
        .into_owned()
}

#[test]
fn the_example_service_accepts_refuses_and_follows_a_key_rotation() {
    let mut world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "files:read,files:write");
    let service = Service::start(&world.server.issuer(), 30);

    // No credentials: a bare challenge naming the metadata.
    let (status, challenge, _) = service.call("GET", "/files", None);
    assert_eq!(status, 401);
    assert_eq!(challenge, format!("Bearer {META}"));

    // A token for files:read reads.
    let read = agent.token("files:read");
    let (status, _, body) = service.call("GET", "/files", Some(&read));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"], agent.did.as_str(), "{body}");
    assert_eq!(body["scopes"], serde_json::json!(["files:read"]), "{body}");
    assert!(!str_field(&body, "jkt").is_empty(), "{body}");
    // Again (from the cache this time): the same answer.
    assert_eq!(service.call("GET", "/files", Some(&read)).0, 200);

    // It does not write: 403 insufficient_scope with the scope needed.
    let (status, challenge, body) = service.call("POST", "/files", Some(&read));
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"files:write\""), "{challenge}");
    assert!(challenge.contains(META), "{challenge}");
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    assert_eq!(body["auth4agent_error"], "scope_not_allowed", "{body}");
    let write = agent.token("files:write");
    let (status, _, body) = service.call("POST", "/files", Some(&write));
    assert_eq!(status, 200, "{body} {}", payload(&write));

    // A token for another service: 401 invalid_token, wrong_audience in the body.
    let elsewhere = str_field(
        &agent.issue("files:read", "https://other.example.com"),
        "token",
    );
    let (status, challenge, body) = service.call("GET", "/files", Some(&elsewhere));
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert!(challenge.contains(META), "{challenge}");
    assert_eq!(body["auth4agent_error"], "wrong_audience", "{body}");

    // A tampered token: 401 bad_signature.
    let (status, _, body) = service.call("GET", "/files", Some(&tampered(&read)));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["auth4agent_error"], "bad_signature", "{body}");

    // The RFC 9728 metadata names the server.
    let (status, _, meta) = service.call("GET", "/.well-known/oauth-protected-resource", None);
    assert_eq!(status, 200);
    assert_eq!(meta["resource"], AUD);
    assert_eq!(
        meta["authorization_servers"],
        serde_json::json!([world.server.issuer()])
    );
    assert_eq!(
        meta["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert_eq!(service.fetches(), 1, "one JWKS fetch so far");

    // Key rotation (on the stopped server, then started again on the same database: issue 17).
    world.server.terminate();
    let rotated = world.server.admin(["keys", "rotate"]);
    assert!(rotated.status.success(), "keys rotate failed: {rotated:?}");
    world.server.start_again();
    let new = agent.token("files:read");
    assert_ne!(token_kid(&new), token_kid(&read), "signed with the new key");
    let (status, _, body) = service.call("GET", "/files", Some(&new));
    assert_eq!(status, 200, "the new kid is fetched at once: {body}");
    assert_eq!(service.fetches(), 2, "one refetch for the new kid");
    // The old token still passes (the retired key stays published).
    assert_eq!(service.call("GET", "/files", Some(&read)).0, 200);
}

/// A JWKS server of one key that counts the JWKS requests; also serves the RFC 8414 metadata naming itself.
fn counting_issuer(keys: KeySet) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let jwks = serde_json::to_string(&keys.to_jwks()).unwrap();
    let metadata = serde_json::json!({
        "issuer": url,
        "jwks_uri": format!("{url}/.well-known/jwks.json"),
    })
    .to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let body = if first.contains(" /.well-known/jwks.json ") {
                counter.fetch_add(1, Ordering::SeqCst);
                &jwks
            } else {
                &metadata
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=300\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

#[test]
fn a_flood_of_random_kids_costs_at_most_one_jwks_fetch_per_cooldown() {
    let issuer_key = SigningKey::from_seed(&[21; 32]);
    let keys = KeySet::from_keys([(
        issuer_key.public_key().thumbprint(),
        issuer_key.public_key(),
    )])
    .unwrap();
    let (issuer, jwks_fetches) = counting_issuer(keys);
    let service = Service::start(&issuer, 30);
    let forger = SigningKey::from_seed(&[22; 32]);
    let now = unix_now();
    let flood: Vec<String> = (0..10_000)
        .map(|i| {
            let claims = AccessTokenClaims {
                iss: issuer.clone(),
                sub: "did:agent:example.com:x".into(),
                client_id: "did:agent:example.com:x".into(),
                aud: Audience::One(AUD.into()),
                scope: "files:read".into(),
                iat: now,
                nbf: None,
                exp: now + 300,
                jti: format!("flood-{i}"),
                cnf: Confirmation { jkt: "x".into() },
                status: None,
            };
            issue_token(
                &forger,
                &format!("kid-{:016x}", rand::random::<u64>()),
                &claims,
            )
            .unwrap()
        })
        .collect();
    let started = Instant::now();
    for token in &flood {
        let (status, _, body) = service.call("GET", "/files", Some(token));
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["auth4agent_error"], "unknown_kid", "{body}");
    }
    let elapsed = started.elapsed().as_secs();
    let fetched = jwks_fetches.load(Ordering::SeqCst) as u64;
    // The first fetch (no keys yet), then one refetch per 30 s cooldown at most.
    let allowed = 1 + 1 + elapsed / 30;
    eprintln!(
        "10,000 random-kid tokens in {elapsed} s: {fetched} JWKS fetches (at most {allowed} allowed)"
    );
    assert!(fetched <= allowed, "{fetched} JWKS fetches in {elapsed} s");
    assert_eq!(service.fetches(), fetched, "the service's own count agrees");
}
