//! The OAuth surface through the router: RFC 8414 metadata, and `POST /oauth/token` (client
//! credentials with `private_key_jwt`): a token identical in form to the challenge path's, single
//! use of each assertion under concurrency, and every refusal in RFC 6749 §5.2 form with its
//! auth4agent code.

use auth4agent_protocol::{KeySet, UnixTime, Verifier, encode_form};
use auth4agent_testkit::sign;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};

use crate::harness::{Agent, Harness, ISSUER, Resp, raw_request, send};

const RESOURCE: &str = "https://files.example.com/mcp";
const TOKEN_ENDPOINT: &str = "http://auth4agent.test/oauth/token";

fn form_request(body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn token_form(assertion: &str, extra: &[(&str, &str)]) -> String {
    auth4agent_testkit::Signer::token_form(assertion, extra)
}

fn assertion(h: &Harness, agent: &Agent) -> String {
    sign::client_assertion(&agent.key, &agent.did, ISSUER, h.now())
}

async fn request_token(h: &Harness, assertion: &str, extra: &[(&str, &str)]) -> Resp {
    h.send(form_request(token_form(assertion, extra))).await
}

#[track_caller]
fn assert_oauth_error(resp: &Resp, status: u16, error: &str, ours: &str) {
    assert_eq!(resp.status.as_u16(), status, "status; body: {}", resp.json);
    assert_eq!(resp.json["error"], error, "body: {}", resp.json);
    assert_eq!(resp.json["auth4agent_error"], ours, "body: {}", resp.json);
    assert!(
        resp.json["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        resp.json
    );
    assert_eq!(resp.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn metadata_names_the_token_endpoint() {
    let h = Harness::start().await;
    let resp = h
        .send(raw_request(
            "GET",
            "/.well-known/oauth-authorization-server",
            vec![],
            None,
        ))
        .await;
    let doc = resp.assert_ok(200);
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], TOKEN_ENDPOINT);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{ISSUER}/oauth/authorize")
    );
    assert_eq!(doc["response_types_supported"], json!([]));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert!(
        resp.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let discovery = h
        .send(raw_request(
            "GET",
            "/.well-known/auth4agent-configuration",
            vec![],
            None,
        ))
        .await;
    let discovery = discovery.assert_ok(200);
    assert_eq!(
        discovery["oauth_authorization_server"],
        format!("{ISSUER}/.well-known/oauth-authorization-server")
    );
    assert_eq!(discovery["endpoints"]["oauth_token"], TOKEN_ENDPOINT);
}

/// The authorization endpoint exists only because OAuth clients (the MCP Python SDK) refuse metadata
/// without one: every request to it, whatever it asks, is refused in RFC 6749 form, never redirected.
#[tokio::test]
async fn authorization_endpoint_refuses_every_request() {
    let h = Harness::start().await;
    let (_, agent) = h.active_agent("example.com", &["files:read"]).await;
    let query = encode_form([
        ("response_type", "code"),
        ("client_id", agent.did.as_str()),
        ("redirect_uri", "https://attacker.example/cb"),
        ("state", "s"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ]);
    let requests = [
        raw_request("GET", "/oauth/authorize", vec![], None),
        raw_request("GET", &format!("/oauth/authorize?{query}"), vec![], None),
        Request::builder()
            .method("POST")
            .uri("/oauth/authorize")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(query.clone()))
            .unwrap(),
    ];
    for request in requests {
        let resp = h.send(request).await;
        assert_oauth_error(
            &resp,
            400,
            "unsupported_response_type",
            "unsupported_response_type",
        );
        assert!(
            resp.headers.get(header::LOCATION).is_none(),
            "never redirects"
        );
    }
}

#[tokio::test]
async fn client_credentials_issue_a_challenge_path_token() {
    let h = Harness::start().await;
    let (_op, agent) = h
        .active_agent("alpha.example.com", &["files:read", "files:write"])
        .await;
    let resp = request_token(
        &h,
        &assertion(&h, &agent),
        &[("scope", "files:read"), ("resource", RESOURCE)],
    )
    .await;
    let body = resp.assert_ok(200).clone();
    assert_eq!(resp.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "files:read");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();

    let jwks = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await;
    let keys = KeySet::from_json(&jwks.json.to_string()).unwrap();
    let verified = Verifier::new(ISSUER, RESOURCE)
        .verify(token, &keys, UnixTime::from_secs(h.now()))
        .unwrap();
    verified.require_scope("files:read").unwrap();
    let claims = verified.claims();
    assert_eq!(claims.sub, agent.did);
    assert_eq!(claims.client_id, agent.did);
    assert_eq!(claims.cnf.jkt, agent.key.public_key().thumbprint());
    assert_eq!(claims.aud.as_slice(), [RESOURCE]);
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(h.introspect(token).await["active"], true);

    // No scope: every allowed scope. The assertion may name the token endpoint as its audience; a
    // matching client_id is accepted.
    let did = auth4agent_protocol::Did::parse(&agent.did).unwrap();
    let claims = auth4agent_protocol::ClientAssertionClaims::new(
        &did,
        TOKEN_ENDPOINT,
        UnixTime::from_secs(h.now()),
        std::time::Duration::from_secs(60),
        sign::fresh_jti(),
    );
    let to_endpoint = auth4agent_protocol::sign_client_assertion(&agent.key, &claims).unwrap();
    let resp = request_token(
        &h,
        &to_endpoint,
        &[("resource", RESOURCE), ("client_id", &agent.did)],
    )
    .await;
    assert_eq!(resp.assert_ok(200)["scope"], "files:read files:write");

    let issued: Vec<String> = h
        .store
        .list_audit(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "token.issue")
        .map(|e| e.detail)
        .collect();
    assert_eq!(issued.len(), 2);
    assert!(
        issued
            .iter()
            .all(|d| d.contains("grant=client_credentials")),
        "{issued:?}"
    );
}

#[tokio::test]
async fn one_assertion_many_concurrent_requests_one_token() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let body = token_form(&assertion(&h, &agent), &[("resource", RESOURCE)]);
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let app = h.app.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(
            async move { send(&app, form_request(body)).await },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status.as_u16() {
            200 => ok += 1,
            _ => assert_oauth_error(&resp, 401, "invalid_client", "client_assertion_replayed"),
        }
    }
    assert_eq!(ok, 1, "exactly one token for one assertion");
    // The same jti in a new assertion is a replay too.
    let resp = h.send(form_request(body)).await;
    assert_oauth_error(&resp, 401, "invalid_client", "client_assertion_replayed");
}

#[tokio::test]
async fn refused_assertions() {
    let h = Harness::start().await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let resource = [("resource", RESOURCE)];
    let now = h.now();
    let claims = |aud: &str, iat: u64, exp: u64| json!({"iss": agent.did, "sub": agent.did, "aud": aud, "iat": iat, "exp": exp, "jti": sign::fresh_jti()});
    let header = json!({"alg": "EdDSA", "typ": "JWT"});

    // Signed by another key.
    let other = sign::random_key();
    let forged = sign::raw_jws(&other, &header, &claims(ISSUER, now, now + 60));
    let resp = request_token(&h, &forged, &resource).await;
    assert_oauth_error(&resp, 401, "invalid_client", "invalid_client_assertion");
    assert!(
        resp.json["error_description"]
            .as_str()
            .unwrap()
            .contains("bad_signature")
    );
    // Wrong audience; a lifetime over five minutes.
    for (c, why) in [
        (
            claims("https://other.example.com", now, now + 60),
            "wrong_audience",
        ),
        (claims(ISSUER, now, now + 301), "lifetime_too_long"),
        (claims(ISSUER, now - 400, now - 100), "expired"),
    ] {
        let resp = request_token(&h, &sign::raw_jws(&agent.key, &header, &c), &resource).await;
        assert_oauth_error(&resp, 401, "invalid_client", "invalid_client_assertion");
        assert!(
            resp.json["error_description"]
                .as_str()
                .unwrap()
                .contains(why),
            "{}",
            resp.json
        );
    }
    // An access token, a proof and a signed request presented as the assertion.
    let access_token = h.token(&agent, "read").await;
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "read", None);
    let signed = sign::request_signature(
        &agent.key,
        "POST",
        TOKEN_ENDPOINT,
        b"",
        UnixTime::from_secs(now),
    );
    for presented in [&access_token, &proof, &signed] {
        let resp = request_token(&h, presented, &resource).await;
        assert_oauth_error(&resp, 401, "invalid_client", "invalid_client_assertion");
        assert!(
            resp.json["error_description"]
                .as_str()
                .unwrap()
                .contains("typ"),
            "{}",
            resp.json
        );
    }
    // client_id naming someone else.
    let resp = request_token(
        &h,
        &assertion(&h, &agent),
        &[("resource", RESOURCE), ("client_id", "did:agent:x")],
    )
    .await;
    assert_oauth_error(&resp, 401, "invalid_client", "invalid_client_assertion");
    // An unknown agent.
    let stranger = sign::random_key();
    let did = auth4agent_protocol::Did::from_key(
        &auth4agent_protocol::Domain::parse("alpha.example.com").unwrap(),
        &stranger.public_key(),
    );
    let resp = request_token(
        &h,
        &sign::client_assertion(&stranger, did.as_str(), ISSUER, now),
        &resource,
    )
    .await;
    assert_oauth_error(&resp, 401, "invalid_client", "invalid_client_assertion");

    // Scope not allowed; resource missing, repeated, relative.
    let resp = request_token(
        &h,
        &assertion(&h, &agent),
        &[("scope", "write"), ("resource", RESOURCE)],
    )
    .await;
    assert_oauth_error(&resp, 400, "invalid_scope", "scope_not_allowed");
    for extra in [
        &[][..],
        &[
            ("resource", RESOURCE),
            ("resource", "https://b.example.com"),
        ][..],
        &[("resource", "/relative")][..],
        &[("resource", "https://a.example.com/#fragment")][..],
    ] {
        let resp = request_token(&h, &assertion(&h, &agent), extra).await;
        assert_oauth_error(&resp, 400, "invalid_target", "invalid_target");
    }
    // A scope refusal does not consume the assertion; a success does.
    let one = assertion(&h, &agent);
    let resp = request_token(&h, &one, &[("scope", "write"), ("resource", RESOURCE)]).await;
    assert_oauth_error(&resp, 400, "invalid_scope", "scope_not_allowed");
    request_token(&h, &one, &resource).await.assert_ok(200);

    // A suspended agent, then an operator whose verification lapsed.
    let suspend = h.signed(
        &op.key,
        "POST",
        &format!("/v1/agents/{}/suspend", agent.did),
        None,
    );
    h.send(suspend).await.assert_ok(200);
    let resp = request_token(&h, &assertion(&h, &agent), &resource).await;
    assert_oauth_error(&resp, 401, "invalid_client", "agent_not_active");
    let reactivate = h.signed(
        &op.key,
        "POST",
        &format!("/v1/agents/{}/reactivate", agent.did),
        None,
    );
    h.send(reactivate).await.assert_ok(200);
    request_token(&h, &assertion(&h, &agent), &resource)
        .await
        .assert_ok(200);
    h.clock.advance(30 * 86_400 + 1);
    let resp = request_token(&h, &assertion(&h, &agent), &resource).await;
    assert_oauth_error(&resp, 401, "invalid_client", "operator_not_verified");
}

#[tokio::test]
async fn malformed_requests_get_oauth_errors() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let a = assertion(&h, &agent);
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            "grant_type=password&username=u&password=p".into(),
            400,
            "unsupported_grant_type",
            "unsupported_grant_type",
        ),
        (
            "resource=https%3A%2F%2Fa.example".into(),
            400,
            "invalid_request",
            "invalid_request",
        ),
        (
            format!(
                "{}&scope=a&scope=b",
                token_form(&a, &[("resource", RESOURCE)])
            ),
            400,
            "invalid_request",
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&resource=https%3A%2F%2Fa.example".into(),
            401,
            "invalid_client",
            "invalid_client_assertion",
        ),
        (
            token_form("not-a-jws", &[("resource", RESOURCE)]),
            401,
            "invalid_client",
            "invalid_client_assertion",
        ),
        (
            "grant_type=%ZZ".into(),
            400,
            "invalid_request",
            "invalid_request",
        ),
    ];
    for (body, status, error, ours) in cases {
        let resp = h.send(form_request(body.clone())).await;
        assert_oauth_error(&resp, status, error, ours);
    }
    // JSON instead of a form.
    let resp = h
        .send(raw_request(
            "POST",
            "/oauth/token",
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
            None,
        ))
        .await;
    assert_oauth_error(&resp, 400, "invalid_request", "unsupported_media_type");
    // Too large, refused by the body limit layer, still in OAuth form.
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(70 * 1024)
    );
    let resp = h.send(form_request(big)).await;
    assert_oauth_error(&resp, 413, "invalid_request", "payload_too_large");
    // Wrong method.
    let resp = h
        .send(raw_request("GET", "/oauth/token", vec![], None))
        .await;
    assert_oauth_error(&resp, 405, "invalid_request", "method_not_allowed");
    let _: Value = resp.json;
}
