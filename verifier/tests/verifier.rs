//! The verifier crate against a tiny scripted HTTP issuer on loopback: discovery, the key source's caching rules,
//! the cache, and the middleware's refusals.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, Did, Domain, DpopProofClaims, KeySet, SigningKey,
    StatusClaim, StatusList, StatusListTokenClaims, UnixTime, issue_status_list, issue_token,
    sign_dpop_proof,
};
use auth4agent_verifier::middleware::{AgentToken, BearerAuth, ProtectedResource};
use auth4agent_verifier::{
    Clock, Config, DpopOptions, FetchError, ManualClock, StatusPolicy, TokenVerifier, VerifyError,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tower::ServiceExt;

const AUD: &str = "https://files.example.com";
const T0: u64 = 1_800_000_000;

/// What the scripted issuer answers.
struct Script {
    issuer: String,
    jwks: String,
    etag: Option<String>,
    cache_control: String,
    down: bool,
    metadata_issuer: Option<String>,
    /// JWKS requests seen, and how many carried If-None-Match.
    jwks_requests: usize,
    conditional: usize,
    /// The status list token served at `/status-lists/1`, and how often it was asked for.
    status_list: String,
    status_requests: usize,
}

struct Issuer {
    url: String,
    script: Arc<Mutex<Script>>,
    keys: Vec<SigningKey>,
}

impl Issuer {
    fn start() -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys = vec![
            SigningKey::from_seed(&[1; 32]),
            SigningKey::from_seed(&[2; 32]),
        ];
        let script = Arc::new(Mutex::new(Script {
            issuer: url.clone(),
            jwks: jwks(&keys[..1]),
            etag: Some("\"v1\"".into()),
            cache_control: "public, max-age=300".into(),
            down: false,
            metadata_issuer: None,
            jwks_requests: 0,
            conditional: 0,
            status_list: String::new(),
            status_requests: 0,
        }));
        let shared = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut if_none_match = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("if-none-match")
                    {
                        if_none_match = Some(value.trim().to_owned());
                    }
                }
                let path = first.split(' ').nth(1).unwrap_or("").to_owned();
                let mut s = shared.lock().unwrap();
                let (status, headers, body) = if s.down {
                    ("503 Service Unavailable", String::new(), String::new())
                } else if path == "/.well-known/oauth-authorization-server" {
                    let issuer = s.metadata_issuer.clone().unwrap_or(s.issuer.clone());
                    let body = serde_json::json!({
                        "issuer": issuer,
                        "jwks_uri": format!("{}/.well-known/jwks.json", s.issuer),
                    })
                    .to_string();
                    ("200 OK", String::new(), body)
                } else if path == "/.well-known/jwks.json" {
                    s.jwks_requests += 1;
                    let mut headers = format!("Cache-Control: {}\r\n", s.cache_control);
                    if let Some(etag) = &s.etag {
                        headers.push_str(&format!("ETag: {etag}\r\n"));
                    }
                    if if_none_match.is_some() {
                        s.conditional += 1;
                    }
                    if if_none_match.is_some() && if_none_match == s.etag {
                        ("304 Not Modified", headers, String::new())
                    } else {
                        ("200 OK", headers, s.jwks.clone())
                    }
                } else if path == "/status-lists/1" {
                    s.status_requests += 1;
                    ("200 OK", String::new(), s.status_list.clone())
                } else if path == "/big" {
                    ("200 OK", String::new(), "x".repeat(70 * 1024))
                } else if path == "/redirect" {
                    (
                        "302 Found",
                        format!("Location: {}/.well-known/jwks.json\r\n", s.issuer),
                        String::new(),
                    )
                } else {
                    ("404 Not Found", String::new(), String::new())
                };
                drop(s);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Issuer { url, script, keys }
    }

    fn set(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().unwrap());
    }

    fn jwks_requests(&self) -> usize {
        self.script.lock().unwrap().jwks_requests
    }

    fn token(&self, key: usize, scope: &str, aud: &str, now: u64) -> String {
        self.token_with_status(key, scope, aud, now, None)
    }

    /// A token bound (`cnf.jkt`) to the key with thumbprint `jkt`.
    fn bound_token(&self, key: usize, scope: &str, aud: &str, now: u64, jkt: &str) -> String {
        self.token_bound_with_status(key, scope, aud, now, jkt, None)
    }

    /// A token naming entry `idx` of `/status-lists/1` when `idx` is given.
    fn token_with_status(
        &self,
        key: usize,
        scope: &str,
        aud: &str,
        now: u64,
        idx: Option<u64>,
    ) -> String {
        self.token_bound_with_status(key, scope, aud, now, "jkt-of-the-agent", idx)
    }

    fn token_bound_with_status(
        &self,
        key: usize,
        scope: &str,
        aud: &str,
        now: u64,
        jkt: &str,
        idx: Option<u64>,
    ) -> String {
        let signer = &self.keys[key];
        let agent = Did::from_key(
            &Domain::parse("agents.example.com").unwrap(),
            &SigningKey::from_seed(&[9; 32]).public_key(),
        );
        issue_token(
            signer,
            &signer.public_key().thumbprint(),
            &AccessTokenClaims {
                iss: self.url.clone(),
                sub: agent.to_string(),
                client_id: agent.to_string(),
                aud: Audience::One(aud.into()),
                scope: scope.into(),
                iat: now,
                nbf: None,
                exp: now + 600,
                jti: format!("tok_{now}_{key}_{idx:?}"),
                cnf: Confirmation { jkt: jkt.into() },
                status: idx
                    .map(|idx| StatusClaim::new(format!("{}/status-lists/1", self.url), idx)),
            },
        )
        .unwrap()
    }
}

fn jwks(keys: &[SigningKey]) -> String {
    let set = KeySet::from_keys(
        keys.iter()
            .map(|k| (k.public_key().thumbprint(), k.public_key())),
    )
    .unwrap();
    serde_json::to_string(&set.to_jwks()).unwrap()
}

fn config(clock: &ManualClock) -> Config {
    Config {
        clock: Arc::new(clock.clone()),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

async fn discover(issuer: &Issuer, clock: &ManualClock) -> TokenVerifier {
    TokenVerifier::discover_with(&issuer.url, AUD, config(clock))
        .await
        .unwrap()
}

#[tokio::test]
async fn discovers_verifies_and_caches() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    let token = issuer.token(0, "files:read", AUD, T0);
    assert!(verifier.cached(&token).is_none());
    let verified = verifier.verify(&token).await.unwrap();
    assert!(verified.scopes().contains("files:read"));
    assert!(verifier.cached(&token).is_some(), "cached after a success");
    // A token differing in one signature character (in the middle: the last one may carry unused bits) is not a
    // hit, and fails verification; so does one differing in its first byte (same signature segment).
    let mut altered: Vec<char> = token.chars().collect();
    let mid = token.len() - 40;
    altered[mid] = if altered[mid] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    assert!(verifier.cached(&altered).is_none());
    let mut head_altered = token.clone();
    head_altered.replace_range(0..1, "f");
    assert!(verifier.cached(&head_altered).is_none());
    assert_eq!(
        verifier.verify(&altered).await.unwrap_err().code(),
        "bad_signature"
    );
    // Wrong audience: refused, and not cached.
    let other = issuer.token(0, "files:read", "https://other.example.com", T0);
    assert_eq!(
        verifier.verify(&other).await.unwrap_err().code(),
        "wrong_audience"
    );
    // One JWKS fetch for all of that.
    assert_eq!(issuer.jwks_requests(), 1);
    // The cache never outlives exp.
    clock.advance(600);
    assert!(verifier.cached(&token).is_none());
    // Past exp the full verification decides (here within the protocol's 60 s leeway; then expired).
    assert!(verifier.verify(&token).await.is_ok());
    clock.advance(61);
    assert_eq!(verifier.verify(&token).await.unwrap_err().code(), "expired");
}

#[tokio::test]
async fn discovery_refuses_a_mixed_up_issuer() {
    let issuer = Issuer::start();
    issuer.set(|s| s.metadata_issuer = Some("https://evil.example.com".into()));
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let error = TokenVerifier::discover_with(&issuer.url, AUD, config(&clock))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::IssuerMismatch { .. }),
        "{error}"
    );
    // http to a non-loopback host is refused before any request.
    let error = TokenVerifier::discover("http://auth.example.com", AUD)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::BadUrl(_)), "{error}");
}

#[tokio::test]
async fn fetch_hygiene_no_redirects_and_a_size_cap() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    for (path, expected) in [("/redirect", "HTTP status 302"), ("/big", "larger than")] {
        let keys = auth4agent_verifier::RemoteKeySet::new(
            &format!("{}{path}", issuer.url),
            config(&clock),
        )
        .unwrap();
        let error = keys.current(UnixTime::from_secs(T0)).await.unwrap_err();
        assert!(error.to_string().contains(expected), "{path}: {error}");
        assert!(keys.status().unavailable);
    }
}

#[tokio::test]
async fn max_age_then_etag_revalidation() {
    let issuer = Issuer::start();
    issuer.set(|s| s.cache_control = "max-age=5".into()); // clamped up to 30 s
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    let keys = verifier.keys();
    keys.current(clock.now()).await.unwrap();
    clock.advance(29);
    keys.current(clock.now()).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1, "fresh for the clamped 30 s");
    clock.advance(1);
    keys.current(clock.now()).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2);
    assert_eq!(
        issuer.script.lock().unwrap().conditional,
        1,
        "revalidated with If-None-Match"
    );
    assert_eq!(keys.status().keys, 1);
}

#[tokio::test]
async fn a_snapshot_carries_the_cache_into_a_later_run() {
    let issuer = Issuer::start();
    issuer.set(|s| {
        s.cache_control = "max-age=60".into();
        s.etag = Some("\"v1\"".into());
    });
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let url = format!("{}/.well-known/jwks.json", issuer.url);
    let first = auth4agent_verifier::RemoteKeySet::new(&url, config(&clock)).unwrap();
    assert!(first.snapshot().is_none(), "nothing to keep before a fetch");
    first.current(clock.now()).await.unwrap();
    let snapshot = first.snapshot().unwrap();
    assert_eq!(
        (
            snapshot.fetched_at,
            snapshot.fresh_until,
            snapshot.etag.as_deref()
        ),
        (T0, T0 + 60, Some("\"v1\""))
    );

    // A later run, restored: fresh until the saved max-age ends, with no request.
    let second = auth4agent_verifier::RemoteKeySet::new(&url, config(&clock)).unwrap();
    second.restore(&snapshot).unwrap();
    clock.advance(59);
    let token = issuer.token(0, "files:read", AUD, clock.now().as_secs());
    let verifier = auth4agent_protocol::Verifier::new(issuer.url.clone(), AUD);
    second.verify(&verifier, &token, clock.now()).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1, "restored keys are fresh");
    // Then revalidated with the saved ETag.
    clock.advance(1);
    second.current(clock.now()).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2);
    assert_eq!(issuer.script.lock().unwrap().conditional, 1);

    // Issuer down: a restored set is served stale within stale-if-error from its fetched_at, then not at all.
    issuer.set(|s| s.down = true);
    let third = auth4agent_verifier::RemoteKeySet::new(&url, config(&clock)).unwrap();
    third.restore(&snapshot).unwrap();
    third.current(clock.now()).await.unwrap();
    let fourth = auth4agent_verifier::RemoteKeySet::new(&url, config(&clock)).unwrap();
    fourth.restore(&snapshot).unwrap();
    clock.set(UnixTime::from_secs(T0 + 24 * 3600));
    assert_eq!(
        fourth.current(clock.now()).await.unwrap_err().code(),
        "keys_unavailable"
    );

    // An unusable snapshot is refused and changes nothing.
    let mut bad = snapshot.clone();
    bad.jwks = "{\"keys\": []}".into();
    let fifth = auth4agent_verifier::RemoteKeySet::new(&url, config(&clock)).unwrap();
    assert!(fifth.restore(&bad).is_err());
    assert!(fifth.snapshot().is_none());
}

#[tokio::test]
async fn unknown_kid_refetches_once_per_cooldown() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    let old = issuer.token(0, "files:read", AUD, T0);
    verifier.verify(&old).await.unwrap();
    // The issuer rotates in key 1.
    issuer.set(|s| {
        s.jwks = jwks(&issuer.keys);
        s.etag = Some("\"v2\"".into());
    });
    let new = issuer.token(1, "files:read", AUD, T0);
    verifier.verify(&new).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2, "one refetch for the new kid");
    // A flood of made-up kids (signed by a key the issuer never published) within the cooldown: no fetch.
    let stranger = SigningKey::from_seed(&[3; 32]);
    for i in 0..200 {
        let claims = AccessTokenClaims {
            iss: issuer.url.clone(),
            sub: "x".into(),
            client_id: "x".into(),
            aud: Audience::One(AUD.into()),
            scope: String::new(),
            iat: T0,
            nbf: None,
            exp: T0 + 60,
            jti: format!("j{i}"),
            cnf: Confirmation { jkt: "j".into() },
            status: None,
        };
        let forged = issue_token(&stranger, &format!("kid-{i}"), &claims).unwrap();
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err().code(),
            "unknown_kid"
        );
        if i == 100 {
            clock.advance(29);
        }
    }
    assert_eq!(issuer.jwks_requests(), 2, "no fetch within the cooldown");
    clock.advance(1);
    let forged = issue_token(
        &stranger,
        "kid-late",
        &AccessTokenClaims {
            iss: issuer.url.clone(),
            sub: "x".into(),
            client_id: "x".into(),
            aud: Audience::One(AUD.into()),
            scope: String::new(),
            iat: T0,
            nbf: None,
            exp: T0 + 60,
            jti: "late".into(),
            cnf: Confirmation { jkt: "j".into() },
            status: None,
        },
    )
    .unwrap();
    verifier.verify(&forged).await.unwrap_err();
    assert_eq!(
        issuer.jwks_requests(),
        3,
        "one more once the cooldown passed"
    );
}

#[tokio::test]
async fn an_unreachable_issuer_is_not_asked_on_every_request() {
    let issuer = Issuer::start();
    issuer.set(|s| s.down = true);
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let keys = auth4agent_verifier::RemoteKeySet::new(
        &format!("{}/.well-known/jwks.json", issuer.url),
        config(&clock),
    )
    .unwrap();
    for _ in 0..20 {
        assert!(keys.current(clock.now()).await.is_err());
    }
    assert_eq!(keys.status().fetches, 1, "one attempt per cooldown");
    clock.advance(30);
    assert!(keys.current(clock.now()).await.is_err());
    assert_eq!(keys.status().fetches, 2);
    issuer.set(|s| s.down = false);
    clock.advance(30);
    assert_eq!(keys.current(clock.now()).await.unwrap().len(), 1);
    assert!(!keys.status().unavailable);
}

#[tokio::test]
async fn stale_if_error_is_bounded_and_reported() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    verifier.keys().current(clock.now()).await.unwrap();
    issuer.set(|s| s.down = true);
    clock.advance(301);
    let token = issuer.token(0, "files:read", AUD, T0 + 301);
    verifier.verify(&token).await.unwrap();
    let status = verifier.keys().status();
    assert!(status.stale && !status.unavailable, "{status:?}");
    assert!(status.last_error.is_some());
    // Past 24 h since the last success: no keys.
    clock.advance(24 * 3600);
    let token = issuer.token(0, "files:read", AUD, T0 + 301 + 24 * 3600);
    assert_eq!(
        verifier.verify(&token).await.unwrap_err().code(),
        "keys_unavailable"
    );
    assert!(verifier.keys().status().unavailable);
    // Still refused within the retry cooldown: the stale set is not served again past its bound.
    clock.advance(1);
    let token = issuer.token(0, "files:read", AUD, T0 + 302 + 24 * 3600);
    assert_eq!(
        verifier.verify(&token).await.unwrap_err().code(),
        "keys_unavailable"
    );
    clock.set(UnixTime::from_secs(T0 + 301 + 24 * 3600));
    // Back up: served again.
    issuer.set(|s| s.down = false);
    clock.advance(31);
    let token = issuer.token(0, "files:read", AUD, T0 + 332 + 24 * 3600);
    verifier.verify(&token).await.unwrap();
    assert!(!verifier.keys().status().stale);
}

async fn call(
    app: &axum::Router,
    auth: Option<&str>,
    path: &str,
) -> (StatusCode, String, serde_json::Value) {
    call_with(app, "GET", auth, &[], path).await
}

async fn call_with(
    app: &axum::Router,
    method: &str,
    auth: Option<&str>,
    proofs: &[&str],
    path: &str,
) -> (StatusCode, String, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, challenge, json)
}

#[tokio::test]
async fn middleware_answers_rfc_6750() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    let resource = ProtectedResource::new(AUD, issuer.url.clone())
        .scopes_supported(["files:read", "files:write"]);
    let auth = BearerAuth::new(verifier, &resource);
    let app = axum::Router::new()
        .route(
            "/files",
            get(|t: AgentToken| async move { format!("{} {} {}", t.did(), t.jti(), t.jkt()) })
                .layer(auth.require_scope("files:read")),
        )
        .route(
            "/write",
            get(|| async { "written" }).layer(auth.require_scope("files:write")),
        )
        .merge(resource.router());
    let meta =
        "resource_metadata=\"https://files.example.com/.well-known/oauth-protected-resource\"";

    let token = issuer.token(0, "files:read", AUD, T0);
    let (status, _, _) = call(&app, Some(&format!("Bearer {token}")), "/files").await;
    assert_eq!(status, StatusCode::OK);

    let (status, challenge, body) = call(&app, None, "/files").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, format!("Bearer {meta}"));
    assert_eq!(body, serde_json::Value::Null);

    let (status, challenge, body) = call(&app, Some(&format!("Bearer {token}")), "/write").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"files:write\""), "{challenge}");
    assert!(challenge.contains(meta), "{challenge}");
    assert_eq!(body["auth4agent_error"], "scope_not_allowed");

    let other = issuer.token(0, "files:read", "https://other.example.com", T0);
    let (status, challenge, body) = call(&app, Some(&format!("Bearer {other}")), "/files").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert!(challenge.contains(meta), "{challenge}");
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["auth4agent_error"], "wrong_audience");

    // Another scheme: as if there were no credentials (RFC 6750 §3.1); a malformed Bearer: 400 invalid_request.
    let (status, challenge, _) = call(&app, Some("Basic abc"), "/files").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, format!("Bearer {meta}"));
    let (status, _, body) = call(&app, Some("Bearer a b"), "/files").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    let (status, _, body) = call(&app, None, "/.well-known/oauth-protected-resource").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resource"], AUD);
    assert_eq!(
        body["authorization_servers"],
        serde_json::json!([issuer.url])
    );
    assert_eq!(
        body["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert_eq!(
        body["scopes_supported"],
        serde_json::json!(["files:read", "files:write"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifications_share_one_fetch_and_the_cache() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    let tokens: Vec<String> = (0..8)
        .map(|i| issuer.token(0, &format!("files:read s{i}"), AUD, T0))
        .collect();
    let tokens = Arc::new(tokens);
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (verifier, tokens, ok) = (verifier.clone(), tokens.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let token = &tokens[i % tokens.len()];
                let verified = verifier.verify(token).await.unwrap();
                assert!(
                    verified
                        .scopes()
                        .contains(&format!("s{}", i % tokens.len()))
                );
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 1600);
    assert_eq!(issuer.jwks_requests(), 1);
}

/// A DPoP proof by `key` for `method url` at `now`, for `token`.
fn proof(key: &SigningKey, method: &str, url: &str, now: u64, token: &str) -> String {
    let claims = DpopProofClaims::new(
        method,
        url,
        UnixTime::from_secs(now),
        format!("p-{}", rand_jti()),
        Some(token),
    );
    sign_dpop_proof(key, &claims).unwrap()
}

fn rand_jti() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{:016}", N.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test]
async fn require_dpop_binds_the_token_to_its_key() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    let verifier = discover(&issuer, &clock).await;
    let resource = ProtectedResource::new(AUD, issuer.url.clone());
    let auth = BearerAuth::new(verifier, &resource);
    let app = axum::Router::new()
        .route(
            "/secret",
            get(|t: AgentToken| async move { t.jkt().to_owned() })
                .layer(auth.require_scope("files:read").require_dpop()),
        )
        .route(
            "/files",
            get(|| async { "files" }).layer(auth.require_scope("files:read")),
        );
    let agent = SigningKey::from_seed(&[9; 32]);
    let thief = SigningKey::from_seed(&[10; 32]);
    let jkt = agent.public_key().thumbprint();
    let token = issuer.bound_token(0, "files:read", AUD, T0, &jkt);
    let url = format!("{AUD}/secret");
    let dpop = format!("DPoP {token}");

    // A valid proof is accepted once; the same proof again is a replay.
    let good = proof(&agent, "GET", &url, T0, &token);
    let (status, _, _) = call_with(&app, "GET", Some(&dpop), &[&good], "/secret").await;
    assert_eq!(status, StatusCode::OK);
    let (status, challenge, body) = call_with(&app, "GET", Some(&dpop), &[&good], "/secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    assert!(challenge.contains("algs=\"EdDSA\""), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert_eq!(body["auth4agent_error"], "replayed");

    // The stolen token: as Bearer, without a proof, with a proof of another key, for another URL or method,
    // for another token, too old.
    let refused = |auth: String, proofs: Vec<String>| {
        let app = app.clone();
        async move {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            call_with(&app, "GET", Some(&auth), &proofs, "/secret").await
        }
    };
    let (status, challenge, body) = refused(format!("Bearer {token}"), vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("DPoP error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(body["auth4agent_error"], "dpop_required");
    let (status, _, body) = refused(dpop.clone(), vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_dpop_proof");
    for (proof, code) in [
        (proof(&thief, "GET", &url, T0, &token), "dpop_key_mismatch"),
        (
            proof(&agent, "GET", &format!("{AUD}/files"), T0, &token),
            "htu_mismatch",
        ),
        (proof(&agent, "POST", &url, T0, &token), "htm_mismatch"),
        (
            proof(&agent, "GET", &url, T0, "another.token.x"),
            "ath_mismatch",
        ),
        (proof(&agent, "GET", &url, T0 - 61, &token), "expired"),
        (
            proof(&agent, "GET", &url, T0 + 6, &token),
            "issued_in_future",
        ),
        ("garbage".to_owned(), "malformed_token"),
    ] {
        let (status, challenge, body) = refused(dpop.clone(), vec![proof]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{code}");
        assert!(
            challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{code}: {challenge}"
        );
        assert_eq!(body["auth4agent_error"], code);
    }
    let two = vec![
        proof(&agent, "GET", &url, T0, &token),
        proof(&agent, "GET", &url, T0, &token),
    ];
    let (_, _, body) = refused(dpop.clone(), two).await;
    assert_eq!(body["error"], "invalid_dpop_proof");

    // No credentials at all on a DPoP route: a DPoP challenge.
    let (status, challenge, _) = call(&app, None, "/secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("DPoP algs=\"EdDSA\""), "{challenge}");

    // A route without require_dpop takes Bearer, and holds a DPoP request to its proof.
    let (status, _, _) = call(&app, Some(&format!("Bearer {token}")), "/files").await;
    assert_eq!(status, StatusCode::OK);
    let files = format!("{AUD}/files");
    let ok = proof(&agent, "GET", &files, T0, &token);
    let (status, _, _) = call_with(&app, "GET", Some(&dpop), &[&ok], "/files").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call_with(&app, "GET", Some(&dpop), &[], "/files").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_dpop_proof");

    // After the window a proof is refused as too old; the replay cache forgets it then.
    clock.advance(61);
    let (_, _, body) = call_with(&app, "GET", Some(&dpop), &[&good], "/secret").await;
    assert_eq!(body["auth4agent_error"], "expired");

    // with_dpop: another public origin (behind a proxy); a proof for the resource's own origin then fails.
    let verifier = discover(&issuer, &clock).await;
    let now = T0 + 61;
    let token = issuer.bound_token(0, "files:read", AUD, now, &jkt);
    let proxied = BearerAuth::new(verifier, &resource).with_dpop(DpopOptions {
        public_origin: Some("https://gateway.example.net".into()),
        ..DpopOptions::default()
    });
    let app = axum::Router::new().route(
        "/secret",
        get(|| async { "ok" }).layer(proxied.require_dpop()),
    );
    let dpop = format!("DPoP {token}");
    let via_gateway = proof(
        &agent,
        "GET",
        "https://gateway.example.net/secret",
        now,
        &token,
    );
    let (status, _, _) = call_with(&app, "GET", Some(&dpop), &[&via_gateway], "/secret").await;
    assert_eq!(status, StatusCode::OK);
    let direct = proof(&agent, "GET", &url, now, &token);
    let (_, _, body) = call_with(&app, "GET", Some(&dpop), &[&direct], "/secret").await;
    assert_eq!(body["auth4agent_error"], "htu_mismatch");
}

impl Issuer {
    /// Publishes list 1 (8 entries, `statuses` set), issued at `iat` with a 60 s ttl, signed with key 0.
    fn publish_list(&self, iat: u64, statuses: &[(u64, u8)]) {
        let mut list = StatusList::new(2, 8).unwrap();
        for (idx, value) in statuses {
            list.set(*idx, *value).unwrap();
        }
        let key = &self.keys[0];
        let token = issue_status_list(
            key,
            &key.public_key().thumbprint(),
            &StatusListTokenClaims {
                sub: format!("{}/status-lists/1", self.url),
                iat,
                exp: iat + 3660,
                ttl: 60,
                status_list: list.encode(),
            },
        )
        .unwrap();
        self.set(|s| s.status_list = token);
    }

    fn status_requests(&self) -> usize {
        self.script.lock().unwrap().status_requests
    }
}

fn code(result: Result<Arc<auth4agent_verifier::VerifiedToken>, VerifyError>) -> &'static str {
    result.map(|_| ()).unwrap_err().code()
}

/// Entry 1 revoked, 2 suspended, 0 valid; one list fetch serves every token; the cached verification of a
/// valid token ends at the list's next refresh (`iat + ttl`), when a suspension published meanwhile shows.
#[tokio::test]
async fn status_list_entries_refuse_and_cached_verifications_end_at_the_next_list() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    issuer.publish_list(T0, &[(1, 1), (2, 2), (3, 3)]);
    let verifier = discover(&issuer, &clock).await;
    let token = |idx| issuer.token_with_status(0, "files:read", AUD, T0, Some(idx));
    verifier.verify(&token(0)).await.unwrap();
    assert_eq!(code(verifier.verify(&token(1)).await), "token_revoked");
    assert_eq!(code(verifier.verify(&token(2)).await), "agent_suspended");
    assert_eq!(code(verifier.verify(&token(3)).await), "token_revoked");
    assert_eq!(
        code(verifier.verify(&token(8)).await),
        "status_index_out_of_range"
    );
    assert_eq!(issuer.status_requests(), 1, "one fetch for every entry");
    // A token without a status claim is not checked.
    verifier
        .verify(&issuer.token(0, "files:read", AUD, T0))
        .await
        .unwrap();

    // The issuer suspends entry 0 in its next list (iat T0 + 60).
    issuer.publish_list(T0 + 60, &[(0, 2), (1, 1)]);
    clock.set(UnixTime::from_secs(T0 + 59));
    verifier.verify(&token(0)).await.unwrap();
    assert!(verifier.cached(&token(0)).is_some());
    assert_eq!(issuer.status_requests(), 1);
    clock.set(UnixTime::from_secs(T0 + 60));
    assert!(
        verifier.cached(&token(0)).is_none(),
        "the cached verification ends with the list it was decided on"
    );
    assert_eq!(code(verifier.verify(&token(0)).await), "agent_suspended");
    assert_eq!(issuer.status_requests(), 2);

    // A list for another URI, or signed by a key the issuer does not publish, is refused: fail closed.
    clock.set(UnixTime::from_secs(T0 + 200));
    let stranger = SigningKey::from_seed(&[7; 32]);
    let forged = issue_status_list(
        &stranger,
        &stranger.public_key().thumbprint(),
        &StatusListTokenClaims {
            sub: format!("{}/status-lists/1", issuer.url),
            iat: T0 + 200,
            exp: T0 + 4000,
            ttl: 60,
            status_list: StatusList::new(2, 8).unwrap().encode(),
        },
    )
    .unwrap();
    issuer.set(|s| s.status_list = forged);
    assert_eq!(code(verifier.verify(&token(1)).await), "status_unavailable");
}

/// The issuer unreachable: fail closed by default; with `AcceptStale(bound)`, the last good list decides
/// until `bound` after it was fetched, then refused.
#[tokio::test]
async fn an_unreachable_status_list_fails_closed_or_is_used_stale_within_a_bound() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    issuer.publish_list(T0, &[(1, 1)]);
    let closed = discover(&issuer, &clock).await;
    let stale = TokenVerifier::discover_with(
        &issuer.url,
        AUD,
        Config {
            status_policy: StatusPolicy::AcceptStale(Duration::from_secs(300)),
            ..config(&clock)
        },
    )
    .await
    .unwrap();
    let token = |idx, at| issuer.token_with_status(0, "files:read", AUD, at, Some(idx));
    for verifier in [&closed, &stale] {
        verifier.verify(&token(0, T0)).await.unwrap();
    }
    issuer.set(|s| s.down = true);
    clock.set(UnixTime::from_secs(T0 + 120));
    let fresh = token(0, T0 + 120);
    assert_eq!(code(closed.verify(&fresh).await), "status_unavailable");
    stale.verify(&fresh).await.unwrap();
    assert_eq!(
        code(stale.verify(&token(1, T0 + 120)).await),
        "token_revoked",
        "the stale list still refuses what it refused"
    );
    clock.set(UnixTime::from_secs(T0 + 300));
    assert_eq!(
        code(stale.verify(&token(0, T0 + 300)).await),
        "status_unavailable",
        "past the bound"
    );
}

/// The middleware refuses a revoked or suspended agent's token as RFC 6750 `invalid_token` with the specific
/// code in the body, and answers 503 when the list cannot be had (fail closed).
#[tokio::test]
async fn middleware_refuses_by_status() {
    let issuer = Issuer::start();
    let clock = ManualClock::new(UnixTime::from_secs(T0));
    issuer.publish_list(T0, &[(1, 1), (2, 2)]);
    let verifier = discover(&issuer, &clock).await;
    let resource = ProtectedResource::new(AUD, issuer.url.clone());
    let auth = BearerAuth::new(verifier, &resource);
    let app = axum::Router::new().route(
        "/files",
        get(|| async { "ok" }).layer(auth.require_scope("files:read")),
    );
    let bearer = |idx| {
        format!(
            "Bearer {}",
            issuer.token_with_status(0, "files:read", AUD, T0, Some(idx))
        )
    };
    let (status, _, _) = call(&app, Some(&bearer(0)), "/files").await;
    assert_eq!(status, StatusCode::OK);
    for (idx, code) in [(1, "token_revoked"), (2, "agent_suspended")] {
        let (status, challenge, body) = call(&app, Some(&bearer(idx)), "/files").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["auth4agent_error"], code);
    }
    issuer.set(|s| s.down = true);
    clock.set(UnixTime::from_secs(T0 + 61));
    let fresh = format!(
        "Bearer {}",
        issuer.token_with_status(0, "files:read", AUD, T0 + 61, Some(0))
    );
    let (status, _, body) = call(&app, Some(&fresh), "/files").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["auth4agent_error"], "status_unavailable");
}
