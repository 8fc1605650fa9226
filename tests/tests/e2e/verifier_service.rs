//! The verifier crate's example service (`auth4agent-verifier`'s `axum-service`) in front of a real server:
//! tokens accepted, RFC 6750 refusals, a key rotation picked up through the unknown-kid refetch, and a flood of
//! made-up kids costing at most one JWKS fetch per cooldown (counted at a tiny JWKS server of this test). DPoP
//! (RFC 9449): the DPoP route refuses stolen tokens and replayed proofs; `auth4agent request` calls it; and
//! interop with implementations not ours ([`examples/dpop/dpop_interop.py`], pinned, installed by
//! `scripts/test.sh`): a proof signed by joserfc is accepted by the service, and the proof the CLI sends is
//! accepted by a verifier written from RFC 9449 on plain `cryptography`.

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

use crate::python_support::{python, require_python_deps};
use crate::support::{AUD, World, str_field, token_kid, unix_now};

const DPOP_REQUIREMENTS: [&str; 1] = ["examples/dpop/requirements.txt"];
const DPOP_SCRIPT: &str = "examples/dpop/dpop_interop.py";

const META: &str =
    "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\"";

/// The example service, killed on drop.
pub(crate) struct Service {
    child: Child,
    pub(crate) url: String,
    http: reqwest::blocking::Client,
}

impl Service {
    fn start(issuer: &str, cooldown_secs: u64) -> Service {
        Service::start_as(issuer, cooldown_secs, AUD, "127.0.0.1:0")
    }

    /// A service whose audience (and public origin) is its own loopback URL, as a client that calls it directly
    /// sees it.
    pub(crate) fn start_on_loopback(issuer: &str) -> Service {
        let listen = format!("127.0.0.1:{}", auth4agent_testkit::free_port());
        Service::start_as(issuer, 30, &format!("http://{listen}"), &listen)
    }

    fn start_as(issuer: &str, cooldown_secs: u64, audience: &str, listen: &str) -> Service {
        let bin = auth4agent_testkit::example_bin("auth4agent-verifier", "axum-service");
        let mut child = Command::new(bin)
            .args([
                "--issuer",
                issuer,
                "--audience",
                audience,
                "--listen",
                listen,
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
        let authorization = token.map(|token| format!("Bearer {token}"));
        self.call_with(method, path, authorization.as_deref(), &[])
    }

    /// `METHOD path` with an optional `Authorization` value and `DPoP` headers.
    fn call_with(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        proofs: &[&str],
    ) -> (u16, String, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        for proof in proofs {
            request = request.header("dpop", *proof);
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

/// The DPoP route of the example service: a stolen token is useless without the agent key, a proof is good once.
#[test]
fn the_dpop_route_refuses_a_stolen_token_and_a_replayed_proof() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "files:read");
    let service = Service::start(&world.server.issuer(), 30);
    let token = agent.token("files:read");
    let key = agent.signer();
    let thief = auth4agent_testkit::Signer::generate();
    // The service's public URL (its audience): htu names it, not the loopback address it listens on.
    let url = format!("{AUD}/vault");
    let dpop = format!("DPoP {token}");

    // No credentials: a DPoP challenge.
    let (status, challenge, _) = service.call("GET", "/vault", None);
    assert_eq!(status, 401);
    assert_eq!(challenge, format!("DPoP algs=\"EdDSA\", {META}"));

    // The stolen token alone: as Bearer, and as DPoP without a proof.
    let (status, challenge, body) = service.call("GET", "/vault", Some(&token));
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.starts_with("DPoP error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(challenge.contains("algs=\"EdDSA\""), "{challenge}");
    assert_eq!(body["auth4agent_error"], "dpop_required", "{body}");
    let (status, challenge, body) = service.call_with("GET", "/vault", Some(&dpop), &[]);
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    // With a proof signed by another key.
    let forged = thief.dpop("GET", &url, Some(&token));
    let (status, _, body) = service.call_with("GET", "/vault", Some(&dpop), &[&forged]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    assert_eq!(body["auth4agent_error"], "dpop_key_mismatch", "{body}");

    // The agent's own proof is accepted, once.
    let proof = key.dpop("GET", &url, Some(&token));
    let (status, _, body) = service.call_with("GET", "/vault", Some(&dpop), &[&proof]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"], agent.did.as_str(), "{body}");
    assert_eq!(body["jkt"], key.thumbprint(), "{body}");
    let (status, _, body) = service.call_with("GET", "/vault", Some(&dpop), &[&proof]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["auth4agent_error"], "replayed", "{body}");
    // A proof made for another route, or without the token's hash, does not pass either.
    let elsewhere = key.dpop("GET", &format!("{AUD}/files"), Some(&token));
    let (_, _, body) = service.call_with("GET", "/vault", Some(&dpop), &[&elsewhere]);
    assert_eq!(body["auth4agent_error"], "htu_mismatch", "{body}");
    let no_ath = key.dpop("GET", &url, None);
    let (_, _, body) = service.call_with("GET", "/vault", Some(&dpop), &[&no_ath]);
    assert_eq!(body["auth4agent_error"], "missing_claim", "{body}");

    // The Bearer routes still take the token as Bearer.
    assert_eq!(service.call("GET", "/files", Some(&token)).0, 200);
    // The metadata lists the DPoP algorithm.
    let (_, _, meta) = service.call("GET", "/.well-known/oauth-protected-resource", None);
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
}

/// `auth4agent request`: a DPoP-bound token for the URL's origin, cached in the home (0600) and reused, sent
/// with a fresh proof per request; the response in a JSON envelope; a non-2xx status exits 1.
#[test]
fn the_cli_requests_a_dpop_route_with_a_cached_dpop_bound_token() {
    use std::os::unix::fs::PermissionsExt;

    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "files:read,files:write");
    let service = Service::start_on_loopback(&world.server.issuer());
    let vault = format!("{}/vault", service.url);

    let first = agent
        .cli
        .ok_json(["request", "GET", &vault, "--scope", "files:read"]);
    assert_eq!(first["status"], 200, "{first}");
    assert_eq!(first["body"]["agent"], agent.did.as_str(), "{first}");
    assert_eq!(first["token"]["token_type"], "DPoP", "{first}");
    assert_eq!(first["token"]["aud"], service.url.as_str(), "{first}");
    assert_eq!(first["token"]["reused"], false, "{first}");
    assert_eq!(first["token"]["scope"], "files:read", "{first}");
    assert!(
        first["headers"]["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let cache = agent.cli.home().join("tokens.json");
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token cache is private");
    let cached: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let token = cached[0]["token"].as_str().unwrap().to_owned();

    // The cached token again, with a new proof (the service refuses a replayed one).
    let second = agent
        .cli
        .ok_json(["request", "GET", &vault, "--scope", "files:read"]);
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["token"]["reused"], true, "{second}");

    // The token the CLI holds is useless without its key: sent as Bearer, the DPoP route refuses it.
    let (status, _, body) = service.call("GET", "/vault", Some(&token));
    assert_eq!(status, 401, "{body}");

    // Another scope set is another token; a body and headers are sent.
    let posted = agent.cli.ok_json([
        "request",
        "POST",
        &format!("{}/files", service.url),
        "--scope",
        "files:write",
        "--data",
        r#"{"name":"a.txt"}"#,
        "--header",
        "X-Trace: t-1",
    ]);
    assert_eq!(posted["status"], 200, "{posted}");
    assert_eq!(posted["body"]["stored"], true, "{posted}");
    assert_eq!(posted["token"]["reused"], false, "{posted}");

    // A refusal by the service: its status in the envelope, exit 1, the challenge as a hint on stderr.
    let refused = agent.cli.fail([
        "request",
        "GET",
        &format!("{}/files", service.url),
        "--scope",
        "files:write",
    ]);
    let doc = refused.json.clone().expect("an envelope");
    assert_eq!(doc["status"], 403, "{doc}");
    assert_eq!(
        doc["body"]["auth4agent_error"], "scope_not_allowed",
        "{doc}"
    );
    assert!(
        refused.stderr.contains("insufficient_scope"),
        "{}",
        refused.stderr
    );

    // Human output: the body on stdout.
    let human = agent
        .cli
        .human()
        .run(["request", "GET", &vault, "--scope", "files:read"]);
    assert!(human.status.success(), "{}", human.stderr);
    assert!(
        human.stdout.contains("only with the agent key"),
        "{}",
        human.stdout
    );
    assert!(human.stderr.contains("HTTP 200"), "{}", human.stderr);
}

/// A proof made by joserfc with the agent's key file (with `alg` EdDSA, and with its RFC 9864 name Ed25519) is
/// accepted by the example service, once.
#[test]
fn a_dpop_proof_made_by_joserfc_is_accepted_by_the_service() {
    require_python_deps(&DPOP_REQUIREMENTS);
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "files:read");
    let service = Service::start(&world.server.issuer(), 30);
    let token = agent.token("files:read");
    let key = agent.cli.home().join("keys").join("agent.key");
    let key = key.to_str().unwrap();
    let url = format!("{AUD}/vault?from=joserfc");
    for alg in ["EdDSA", "Ed25519"] {
        let run = python(
            DPOP_SCRIPT,
            &[
                "proof", "--key", key, "--alg", alg, "--method", "GET", "--url", &url, "--token",
                &token,
            ],
        );
        assert_eq!(run.code, 0, "{run}");
        let proof = run.stdout.trim().to_owned();
        let dpop = format!("DPoP {token}");
        let (status, _, body) =
            service.call_with("GET", "/vault?from=joserfc", Some(&dpop), &[&proof]);
        assert_eq!(status, 200, "{alg}: {body}");
        assert_eq!(body["agent"], agent.did.as_str(), "{body}");
        let (status, _, body) = service.call_with("GET", "/vault", Some(&dpop), &[&proof]);
        assert_eq!(
            (status, body["auth4agent_error"].as_str()),
            (401, Some("replayed")),
            "{body}"
        );
    }
}

/// One HTTP request received by [`capture_one`]: its target and headers (names lowercased).
struct Captured {
    target: String,
    headers: Vec<(String, String)>,
}

/// Listens on loopback, answers one request with `200 {}` and hands back what it received.
fn capture_one() -> (String, std::sync::mpsc::Receiver<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        let target = first.split(' ').nth(1).unwrap_or_default().to_owned();
        let _ = send.send(Captured { target, headers });
    });
    (url, receive)
}

/// The proof `auth4agent request` sends (and one the protocol crate makes) passes an independent verifier
/// written from RFC 9449 §4.3, which also refuses it for another method, URL, token or key.
#[test]
fn the_proof_the_cli_sends_passes_an_independent_verifier() {
    require_python_deps(&DPOP_REQUIREMENTS);
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "files:read");
    let (origin, captured) = capture_one();
    let url = format!("{origin}/reports/q3?format=json");
    let answer = agent
        .cli
        .ok_json(["request", "GET", &url, "--scope", "files:read"]);
    assert_eq!(answer["status"], 200, "{answer}");
    let request = captured
        .recv_timeout(Duration::from_secs(10))
        .expect("the CLI's request");
    assert_eq!(request.target, "/reports/q3?format=json");
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} header"))
    };
    let token = header("authorization")
        .strip_prefix("DPoP ")
        .expect("Authorization: DPoP")
        .to_owned();
    let proof = header("dpop");
    let jkt = agent.signer().thumbprint();
    // `--name=value`: a base64url thumbprint may start with `-`, which argparse would take for an option.
    let check = |proof: &str, method: &str, url: &str, token: &str, jkt: &str| {
        let (proof, token, jkt) = (
            format!("--proof={proof}"),
            format!("--token={token}"),
            format!("--jkt={jkt}"),
        );
        python(
            DPOP_SCRIPT,
            &[
                "verify", &proof, "--method", method, "--url", url, &token, &jkt,
            ],
        )
    };
    let run = check(&proof, "GET", &url, &token, &jkt);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["jkt"], jkt.as_str(), "{run}");
    // The independent verifier can say no.
    for (what, run) in [
        ("method", check(&proof, "POST", &url, &token, &jkt)),
        (
            "url",
            check(&proof, "GET", &format!("{origin}/other"), &token, &jkt),
        ),
        ("token", check(&proof, "GET", &url, "another.token.x", &jkt)),
        (
            "key",
            check(
                &proof,
                "GET",
                &url,
                &token,
                &auth4agent_testkit::Signer::generate().thumbprint(),
            ),
        ),
    ] {
        assert_eq!(run.code, 1, "{what}: {run}");
        assert_eq!(run.json()["valid"], false, "{what}: {run}");
    }
    // A proof the protocol crate makes for a token request (no ath needed there, so here with one).
    let protocol_proof = agent.signer().dpop("PUT", &url, Some(&token));
    let run = check(&protocol_proof, "PUT", &url, &token, &jkt);
    assert_eq!(run.code, 0, "{run}");
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
    let rotated = world.server.admin(["keys", "rotate", "--now"]);
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
