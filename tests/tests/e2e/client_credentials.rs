//! The OAuth client credentials flow against a real server: the CLI's `--flow client-credentials`
//! (same report as the challenge flow), josekit (an independent Rust JOSE implementation) verifying
//! our access tokens and signing an assertion we accept, and single use of one assertion raced
//! across PostgreSQL replicas.

use auth4agent_protocol::SigningKey;
use auth4agent_testkit::{Signer, unix_now};
use josekit::jws::{EdDSA, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use serde_json::Value;

use crate::support::{AUD, World, assert_valid, str_field};

#[test]
fn cli_client_credentials_flow_reports_what_the_challenge_flow_does() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let by_challenge = agent.issue("read", AUD);
    let by_assertion = agent.cli.ok_json([
        "issue",
        "--flow",
        "client-credentials",
        "--scope",
        "read",
        "--aud",
        AUD,
    ]);
    let keys = |doc: &Value| -> Vec<String> { doc.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&by_assertion),
        keys(&by_challenge),
        "the same --json fields"
    );
    for field in ["aud", "scope", "token_type", "did"] {
        assert_eq!(by_assertion[field], by_challenge[field], "{field}");
    }
    let token = str_field(&by_assertion, "token");
    let claims = assert_valid(&agent.verify(&token, &["--aud", AUD]));
    assert_eq!(claims["sub"], agent.did.as_str(), "{claims}");

    // A refusal is reported with the server's specific code.
    agent
        .cli
        .fail([
            "issue",
            "--flow",
            "client-credentials",
            "--scope",
            "admin",
            "--aud",
            AUD,
        ])
        .assert_error("scope_not_allowed");
    agent
        .cli
        .fail([
            "issue",
            "--flow",
            "client-credentials",
            "--scope",
            "read",
            "--aud",
            AUD,
            "--ttl",
            "5m",
        ])
        .assert_error("ttl_not_supported");
}

#[test]
fn josekit_verifies_our_tokens_and_signs_assertions_we_accept() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let issuer = world.server.url();
    let http = world.server.http();

    // Our token, verified by josekit with the key from the published JWKS.
    let token = agent.token("read");
    let jwks: Value = http
        .get("/.well-known/jwks.json")
        .expect("JWKS")
        .json()
        .clone();
    let header = jwt::decode_header(&token).expect("header");
    assert_eq!(header.claim("typ"), Some(&Value::from("at+jwt")));
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .expect("kid")
        .to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in the JWKS");
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).expect("josekit reads the JWK");
    let verifier = EdDSA.verifier_from_jwk(&jwk).expect("EdDSA verifier");
    let (payload, _) =
        jwt::decode_with_verifier(&token, &verifier).expect("josekit verifies our token");
    assert_eq!(payload.subject(), Some(agent.did.as_str()));
    assert_eq!(payload.issuer(), Some(issuer.as_str()));
    let mut tampered = token.clone();
    tampered.insert(token.find('.').unwrap() + 3, 'x');
    assert!(jwt::decode_with_verifier(&tampered, &verifier).is_err());

    // An assertion signed by josekit with the agent key file as it is on disk.
    let pem = std::fs::read(agent.cli.home().join("keys").join("agent.key")).expect("key file");
    let signer = EdDSA
        .signer_from_pem(&pem)
        .expect("josekit reads the PKCS#8 key");
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    let mut payload = JwtPayload::new();
    payload.set_issuer(&agent.did);
    payload.set_subject(&agent.did);
    payload.set_audience(vec![format!("{issuer}/oauth/token")]);
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_now());
    payload.set_issued_at(&now);
    payload.set_expires_at(&(now + std::time::Duration::from_secs(120)));
    payload.set_jwt_id(auth4agent_protocol::b64url_encode(
        &rand::random::<[u8; 16]>(),
    ));
    let assertion = jwt::encode_with_signer(&payload, &header, &signer).expect("josekit signs");
    let form = Signer::token_form(&assertion, &[("scope", "read"), ("resource", AUD)]);
    let answer = http
        .post_form("/oauth/token", &form)
        .expect("token request");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let token = str_field(answer.json(), "access_token");
    let claims = assert_valid(&agent.verify(&token, &["--aud", AUD]));
    assert_eq!(claims["sub"], agent.did.as_str());
    // The same assertion again is a replay.
    let again = http
        .post_form("/oauth/token", &form)
        .expect("token request");
    assert_eq!(again.status, 401, "{}", again.body);
    assert_eq!(again.json()["error"], "invalid_client");
    assert_eq!(
        again.json()["auth4agent_error"],
        "client_assertion_replayed"
    );

    // Signed by another key (josekit, a fresh key): refused.
    let stranger = SigningKey::from_seed(&rand::random::<[u8; 32]>());
    let pem = stranger.to_pkcs8_pem().expect("PEM");
    let forged = jwt::encode_with_signer(
        &payload,
        &header,
        &EdDSA.signer_from_pem(pem.as_bytes()).expect("signer"),
    )
    .expect("sign");
    let form = Signer::token_form(&forged, &[("resource", AUD)]);
    let refused = http
        .post_form("/oauth/token", &form)
        .expect("token request");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(
        refused.json()["auth4agent_error"],
        "invalid_client_assertion"
    );
}
