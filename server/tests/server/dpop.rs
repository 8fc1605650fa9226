//! DPoP at the token endpoints (RFC 9449 §5): a proof of the agent's key makes the token's type `DPoP` on both
//! paths; a proof by another key, for another URL or method, too old, sent twice, or replayed is refused with
//! `invalid_dpop_proof` (RFC 6749 §5.2 at /oauth/token) or its auth4agent code on the challenge path.

use auth4agent_protocol::{KeySet, SigningKey, UnixTime, Verifier};
use auth4agent_testkit::sign;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};

use crate::harness::{Agent, Harness, ISSUER, Resp, json_request};

const RESOURCE: &str = "https://files.example.com";
const OAUTH_TOKEN_URL: &str = "http://auth4agent.test/oauth/token";
const TOKEN_URL: &str = "http://auth4agent.test/v1/token";

fn oauth_request(h: &Harness, agent: &Agent, dpop: &[&str]) -> Request<Body> {
    let assertion = sign::client_assertion(&agent.key, &agent.did, ISSUER, h.now());
    let mut builder = Request::builder()
        .method("POST")
        .uri("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for proof in dpop {
        builder = builder.header("DPoP", *proof);
    }
    let form = auth4agent_testkit::Signer::token_form(&assertion, &[("resource", RESOURCE)]);
    builder.body(Body::from(form)).unwrap()
}

fn proof(h: &Harness, key: &SigningKey, method: &str, url: &str) -> String {
    sign::dpop_proof(key, method, url, UnixTime::from_secs(h.now()), None)
}

async fn challenge_token(h: &Harness, agent: &Agent, dpop: Option<&str>) -> Resp {
    let ch = h.challenge(&agent.did).await;
    let body = json!({"proof": h.proof(agent, &ch, "files:read", None)});
    let mut req = json_request("POST", "/v1/token", &body);
    if let Some(dpop) = dpop {
        req.headers_mut().insert("DPoP", dpop.parse().unwrap());
    }
    h.send(req).await
}

#[track_caller]
fn assert_oauth_dpop_error(resp: &Resp, ours: &str) {
    assert_eq!(resp.status.as_u16(), 400, "body: {}", resp.json);
    assert_eq!(
        resp.json["error"], "invalid_dpop_proof",
        "body: {}",
        resp.json
    );
    assert_eq!(resp.json["auth4agent_error"], ours, "body: {}", resp.json);
}

/// The token's claims, verified with the server's published keys.
async fn cnf_jkt(h: &Harness, token: &str) -> String {
    let jwks = h
        .send(json_request("GET", "/.well-known/jwks.json", &Value::Null))
        .await;
    let keys = KeySet::from_json(&jwks.json.to_string()).unwrap();
    let verified = Verifier::new(ISSUER, RESOURCE)
        .verify(token, &keys, UnixTime::from_secs(h.now()))
        .unwrap();
    verified.thumbprint().to_owned()
}

#[tokio::test]
async fn a_proof_of_the_agent_key_makes_a_dpop_token_on_the_oauth_endpoint() {
    let h = Harness::start().await;
    let (_, agent) = h.active_agent("example.com", &["files:read"]).await;
    let resp = h.send(oauth_request(&h, &agent, &[])).await;
    assert_eq!(resp.assert_ok(200)["token_type"], "Bearer");

    let dpop = proof(&h, &agent.key, "POST", OAUTH_TOKEN_URL);
    let resp = h.send(oauth_request(&h, &agent, &[&dpop])).await;
    let body = resp.assert_ok(200);
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        cnf_jkt(&h, token).await,
        agent.key.public_key().thumbprint()
    );

    // The same proof again (with a fresh assertion) is a replay.
    let resp = h.send(oauth_request(&h, &agent, &[&dpop])).await;
    assert_oauth_dpop_error(&resp, "dpop_proof_replayed");
    assert_eq!(resp.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn the_oauth_endpoint_refuses_every_bad_proof() {
    let h = Harness::start().await;
    let (_, agent) = h.active_agent("example.com", &["files:read"]).await;
    let thief = sign::random_key();
    let now = UnixTime::from_secs(h.now());
    let cases = [
        ("another key", proof(&h, &thief, "POST", OAUTH_TOKEN_URL)),
        ("another URL", proof(&h, &agent.key, "POST", TOKEN_URL)),
        (
            "another method",
            proof(&h, &agent.key, "GET", OAUTH_TOKEN_URL),
        ),
        (
            "too old",
            sign::dpop_proof(
                &agent.key,
                "POST",
                OAUTH_TOKEN_URL,
                UnixTime::from_secs(now.as_secs() - 61),
                None,
            ),
        ),
        ("not a JWS", "not-a-proof".to_owned()),
        (
            "a signed request, not a proof",
            sign::request_signature(&agent.key, "POST", OAUTH_TOKEN_URL, b"", now),
        ),
    ];
    for (what, dpop) in cases {
        let resp = h.send(oauth_request(&h, &agent, &[&dpop])).await;
        assert_oauth_dpop_error(&resp, "invalid_dpop_proof");
        assert!(
            resp.json["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}: {}",
            resp.json
        );
    }
    let one = proof(&h, &agent.key, "POST", OAUTH_TOKEN_URL);
    let two = proof(&h, &agent.key, "POST", OAUTH_TOKEN_URL);
    let resp = h.send(oauth_request(&h, &agent, &[&one, &two])).await;
    assert_oauth_dpop_error(&resp, "invalid_dpop_proof");
    // A refused proof issued nothing: the agent's next honest request still works.
    let resp = h.send(oauth_request(&h, &agent, &[&one])).await;
    assert_eq!(resp.assert_ok(200)["token_type"], "DPoP");
}

#[tokio::test]
async fn the_challenge_path_binds_and_refuses_with_its_codes() {
    let h = Harness::start().await;
    let (_, agent) = h.active_agent("example.com", &["files:read"]).await;
    let resp = challenge_token(&h, &agent, None).await;
    assert_eq!(resp.assert_ok(200)["token_type"], "Bearer");

    let dpop = proof(&h, &agent.key, "POST", TOKEN_URL);
    let resp = challenge_token(&h, &agent, Some(&dpop)).await;
    assert_eq!(resp.assert_ok(200)["token_type"], "DPoP");

    challenge_token(&h, &agent, Some(&dpop))
        .await
        .assert_error(400, "dpop_proof_replayed");
    let stolen = proof(&h, &sign::random_key(), "POST", TOKEN_URL);
    let resp = challenge_token(&h, &agent, Some(&stolen)).await;
    resp.assert_error(400, "invalid_dpop_proof");
    assert!(
        resp.json["message"]
            .as_str()
            .unwrap()
            .contains("dpop_key_mismatch"),
        "{}",
        resp.json
    );
    let for_oauth = proof(&h, &agent.key, "POST", OAUTH_TOKEN_URL);
    let resp = challenge_token(&h, &agent, Some(&for_oauth)).await;
    resp.assert_error(400, "invalid_dpop_proof");
    assert!(
        resp.json["message"]
            .as_str()
            .unwrap()
            .contains("htu_mismatch")
    );
}

#[tokio::test]
async fn metadata_advertises_dpop() {
    let h = Harness::start().await;
    let resp = h
        .send(json_request(
            "GET",
            "/.well-known/oauth-authorization-server",
            &Value::Null,
        ))
        .await;
    assert_eq!(
        resp.assert_ok(200)["dpop_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
}
