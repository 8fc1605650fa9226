//! In-process router tests (`tower::ServiceExt::oneshot`) over a real SQLite file, a manual clock and
//! a DNS server on loopback: every endpoint's success and its refusals.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use auth4agent_protocol::{
    Did, Domain, KeySet, PublicKey, SIGNATURE_HEADER, UnixTime, Verifier, sign_request,
};
use auth4agent_server::background;
use auth4agent_server::store::OperatorStatus;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use serde_json::{Value, json};

use crate::harness::{
    Harness, ISSUER, START, json_request, jti, new_key, raw_request, test_config,
};
use auth4agent_testkit::TxtRecord;
use hickory_proto::op::ResponseCode;

// ---------------------------------------------------------------- health, keys, discovery

#[tokio::test]
async fn health_ready_jwks_and_discovery() {
    let h = Harness::start().await;
    let resp = h.send(raw_request("GET", "/health", vec![], None)).await;
    assert_eq!(
        resp.assert_ok(200),
        &json!({"status": "ok", "timestamp": START})
    );

    let resp = h.send(raw_request("GET", "/ready", vec![], None)).await;
    assert_eq!(resp.assert_ok(200)["status"], "ready");

    let resp = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await;
    let jwks = resp.assert_ok(200).clone();
    assert_eq!(resp.headers[header::CACHE_CONTROL], "public, max-age=300");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(
        keys[0]["kid"].as_str().unwrap(),
        h.state.keyring.active(h.now()).kid()
    );

    let resp = h
        .send(raw_request(
            "GET",
            "/.well-known/auth4agent-configuration",
            vec![],
            None,
        ))
        .await;
    let doc = resp.assert_ok(200);
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    for (name, path) in [
        ("operators", "/v1/operators"),
        ("agents", "/v1/agents"),
        ("challenge", "/v1/challenge"),
        ("token", "/v1/token"),
        ("introspect", "/v1/introspect"),
        ("revoke", "/v1/revoke"),
    ] {
        assert_eq!(doc["endpoints"][name], format!("{ISSUER}{path}"), "{name}");
    }
    assert_eq!(doc["limits"]["max_body_bytes"], 65536);
    assert_eq!(doc["limits"]["challenge_ttl"], 60);
    assert_eq!(doc["limits"]["token_max_ttl"], 3600);
    assert_eq!(doc["limits"]["token_default_ttl"], 900);
    assert_eq!(doc["limits"]["request_max_age"], 120);
    assert_eq!(doc["signing_alg_values_supported"], json!(["EdDSA"]));
}

#[tokio::test]
async fn the_advertised_limits_are_the_verifiers() {
    let h = Harness::start().await;
    let resp = h
        .send(raw_request(
            "GET",
            "/.well-known/auth4agent-configuration",
            vec![],
            None,
        ))
        .await;
    let doc: auth4agent_api::Configuration =
        serde_json::from_value(resp.assert_ok(200).clone()).unwrap();
    assert_eq!(
        resp.headers[header::CACHE_CONTROL],
        "public, max-age=300",
        "discovery is cacheable like the JWKS (spec §15.1)"
    );
    let limits = doc.limits;
    assert_eq!(limits.leeway, auth4agent_protocol::DEFAULT_LEEWAY.as_secs());
    assert_eq!(
        limits.challenge_ttl,
        auth4agent_protocol::MAX_CHALLENGE_TTL.as_secs()
    );
    assert_eq!(
        limits.request_max_age,
        auth4agent_protocol::MAX_REQUEST_LIFETIME.as_secs()
    );
    assert_eq!(limits, h.state.config.limits());

    // And they are the ones applied: a challenge lives `challenge_ttl`; a signed request issued
    // `leeway` seconds ahead of the server's clock passes, one second more does not.
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let ch = h.challenge(&agent.did).await;
    assert_eq!(ch["expires_at"], h.now() + limits.challenge_ttl);
    let path = format!("/v1/operators/{}", op.id);
    let ahead = |seconds: u64| {
        let url = format!("{ISSUER}{path}");
        let sig = sign_request(
            &op.key,
            "GET",
            &url,
            b"",
            auth4agent_protocol::UnixTime::from_secs(h.now() + seconds),
            &jti(),
        )
        .unwrap();
        raw_request("GET", &path, vec![], Some(&sig))
    };
    h.send(ahead(limits.leeway)).await.assert_ok(200);
    h.send(ahead(limits.leeway + 1))
        .await
        .assert_error(401, "request_expired");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json() {
    let h = Harness::start().await;
    h.send(raw_request("GET", "/nope", vec![], None))
        .await
        .assert_error(404, "not_found");
    h.send(raw_request("DELETE", "/health", vec![], None))
        .await
        .assert_error(405, "method_not_allowed");
    h.send(raw_request("GET", "/v1/token", vec![], None))
        .await
        .assert_error(405, "method_not_allowed");
}

// ---------------------------------------------------------------- operators

#[tokio::test]
async fn operator_registration_and_refusals() {
    let h = Harness::start().await;
    let key = new_key();
    let body = json!({"domain": "Alpha.Example.COM.", "public_key": key.public_key().to_jwk()});
    let resp = h
        .send(h.signed(&key, "POST", "/v1/operators", Some(&body)))
        .await;
    let op = resp.assert_ok(201).clone();
    assert!(op["id"].as_str().unwrap().starts_with("op_"));
    assert_eq!(op["domain"], "alpha.example.com", "normalized");
    assert_eq!(op["status"], "unverified");

    // Once the domain is verified, nobody can register it again.
    let first = crate::harness::Operator {
        id: op["id"].as_str().unwrap().to_owned(),
        domain: "alpha.example.com".into(),
        key,
    };
    h.verify_operator(&first).await;
    let key = first.key;
    let other = new_key();
    let body = json!({"domain": "alpha.example.com", "public_key": other.public_key().to_jwk()});
    h.send(h.signed(&other, "POST", "/v1/operators", Some(&body)))
        .await
        .assert_error(409, "operator_exists");

    // Proof of possession: signed by a key other than the one registered.
    let body = json!({"domain": "beta.example.com", "public_key": key.public_key().to_jwk()});
    h.send(h.signed(&other, "POST", "/v1/operators", Some(&body)))
        .await
        .assert_error(401, "invalid_signature");

    // No signature at all.
    h.send(json_request("POST", "/v1/operators", &body))
        .await
        .assert_error(401, "missing_signature");

    // Bad domain, public suffix, bad key.
    let bad = json!({"domain": "not a domain", "public_key": key.public_key().to_jwk()});
    h.send(h.signed(&key, "POST", "/v1/operators", Some(&bad)))
        .await
        .assert_error(400, "invalid_domain");
    let suffix = json!({"domain": "co.uk", "public_key": key.public_key().to_jwk()});
    h.send(h.signed(&key, "POST", "/v1/operators", Some(&suffix)))
        .await
        .assert_error(400, "public_suffix_domain");
    let badkey =
        json!({"domain": "gamma.example.com", "public_key": {"kty": "RSA", "n": "x", "e": "AQAB"}});
    h.send(h.signed(&key, "POST", "/v1/operators", Some(&badkey)))
        .await
        .assert_error(400, "invalid_key");
}

#[tokio::test]
async fn operator_status_and_isolation() {
    let h = Harness::start().await;
    let a = h.register_operator("alpha.example.com").await;
    let b = h.register_operator("beta.example.com").await;
    let path = format!("/v1/operators/{}", a.id);
    let resp = h.send(h.signed(&a.key, "GET", &path, None)).await;
    let status = resp.assert_ok(200);
    assert_eq!(status["id"], a.id.as_str());
    assert_eq!(status["status"], "unverified");
    assert_eq!(status["domain_verified_at"], Value::Null);
    assert_eq!(status["created_at"], START);

    // B's key cannot read A.
    h.send(h.signed(&b.key, "GET", &path, None))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&b.key, "GET", &format!("{path}/agents"), None))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&b.key, "GET", &format!("{path}/verification"), None))
        .await
        .assert_error(403, "forbidden");
    // Unknown operator.
    h.send(h.signed(
        &a.key,
        "GET",
        "/v1/operators/op_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        None,
    ))
    .await
    .assert_error(404, "operator_not_found");
}

#[tokio::test]
async fn dns_verification_outcomes() {
    let h = Harness::start().await;
    let op = h.register_operator("alpha.example.com").await;
    let path = format!("/v1/operators/{}/verification", op.id);
    let resp = h.send(h.signed(&op.key, "GET", &path, None)).await;
    let instr = resp.assert_ok(200).clone();
    assert_eq!(instr["domain"], "alpha.example.com");
    assert_eq!(instr["txt_record_name"], "_auth4agent.alpha.example.com");
    let value = instr["txt_record_value"].as_str().unwrap().to_owned();
    assert!(
        value.starts_with("auth4agent-verification=") && value.len() == 24 + 32,
        "{value}"
    );
    let name = "_auth4agent.alpha.example.com";

    // No record.
    h.send(h.signed(&op.key, "POST", &path, None))
        .await
        .assert_error(422, "dns_record_not_found");
    // Wrong value.
    h.dns.set_txt(
        name,
        vec![TxtRecord::from(
            "auth4agent-verification=00000000000000000000000000000000",
        )],
    );
    h.send(h.signed(&op.key, "POST", &path, None))
        .await
        .assert_error(422, "dns_record_mismatch");
    // Lookup failure.
    h.dns.fail(name, ResponseCode::ServFail);
    h.send(h.signed(&op.key, "POST", &path, None))
        .await
        .assert_error(502, "dns_lookup_failed");
    // Split into two strings, added after the failed attempts: found now.
    let (head, tail) = value.split_at(17);
    h.dns.set_txt(
        name,
        vec![
            TxtRecord::strings(["unrelated"]),
            TxtRecord::strings([head, tail]),
        ],
    );
    let resp = h.send(h.signed(&op.key, "POST", &path, None)).await;
    let status = resp.assert_ok(200);
    assert_eq!(status["status"], "verified");
    assert_eq!(status["domain_verified_at"], START);
    assert_eq!(status["verification_expires_at"], START + 30 * 86_400);

    // A failed explicit check (lookup failure or wrong record) leaves a current verification unchanged.
    h.dns.fail(name, ResponseCode::ServFail);
    h.send(h.signed(&op.key, "POST", &path, None))
        .await
        .assert_error(502, "dns_lookup_failed");
    let status_path = format!("/v1/operators/{}", op.id);
    let resp = h.send(h.signed(&op.key, "GET", &status_path, None)).await;
    assert_eq!(resp.assert_ok(200)["status"], "verified");
    h.dns.set_txt(
        name,
        vec![TxtRecord::from(
            "auth4agent-verification=00000000000000000000000000000000",
        )],
    );
    h.send(h.signed(&op.key, "POST", &path, None))
        .await
        .assert_error(422, "dns_record_mismatch");
    // A definite wrong answer withdraws the verification (spec §10.4).
    let resp = h.send(h.signed(&op.key, "GET", &status_path, None)).await;
    assert_eq!(resp.assert_ok(200)["status"], "unverified");
    assert!(resp.json["domain_verified_at"].is_null());

    let audit = h.store.list_audit(50).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"operator.register"));
    assert!(actions.contains(&"operator.verify"));
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "operator.verify_failed")
            .count(),
        5
    );
}

// ---------------------------------------------------------------- signed-request refusals

#[tokio::test]
async fn signed_request_refusals() {
    let h = Harness::start().await;
    let op = h.register_operator("alpha.example.com").await;
    let path = format!("/v1/operators/{}", op.id);

    // Replay: the same signed request twice.
    let sig = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_ok(200);
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_error(409, "request_replayed");

    // Signed for another URL / another method / another body.
    let sig = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}/v1/operators/other"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_error(401, "htu_mismatch");
    let sig = sign_request(
        &op.key,
        "GET",
        &format!("http://elsewhere.test{path}"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_error(401, "htu_mismatch");
    let sig = sign_request(
        &op.key,
        "POST",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_error(401, "htm_mismatch");
    let vpath = format!("{path}/verification");
    let sig = sign_request(
        &op.key,
        "POST",
        &format!("{ISSUER}{vpath}"),
        b"{}",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    h.send(raw_request(
        "POST",
        &vpath,
        b"{\"x\":1}".to_vec(),
        Some(&sig),
    ))
    .await
    .assert_error(401, "body_hash_mismatch");

    // Too old, and from the future.
    let sig = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now() - 600),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_error(401, "request_expired");
    let sig = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now() + 600),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_error(401, "request_expired");

    // Garbage and a tampered signature.
    h.send(raw_request("GET", &path, vec![], Some("not.a.jws")))
        .await
        .assert_error(401, "invalid_signature");
    let sig = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    let mut tampered = sig.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    h.send(raw_request("GET", &path, vec![], Some(&tampered)))
        .await
        .assert_error(401, "invalid_signature");
    // The untampered one still works (the failed attempt did not burn its jti).
    h.send(raw_request("GET", &path, vec![], Some(&sig)))
        .await
        .assert_ok(200);
    // Two signature headers.
    let one = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    let two = sign_request(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    let mut req = raw_request("GET", &path, vec![], Some(&one));
    req.headers_mut()
        .append(SIGNATURE_HEADER, two.parse().unwrap());
    h.send(req).await.assert_error(401, "invalid_signature");
    // Missing.
    h.send(raw_request("GET", &path, vec![], None))
        .await
        .assert_error(401, "missing_signature");
}

#[tokio::test]
async fn body_refusals_are_4xx_json() {
    let h = Harness::start().await;
    let key = new_key();
    // Malformed JSON (signed over its exact bytes).
    let bytes = b"{\"domain\": ".to_vec();
    let sig = sign_request(
        &key,
        "POST",
        &format!("{ISSUER}/v1/operators"),
        &bytes,
        UnixTime::from_secs(h.now()),
        &jti(),
    )
    .unwrap();
    h.send(raw_request("POST", "/v1/operators", bytes, Some(&sig)))
        .await
        .assert_error(400, "invalid_json");
    // Duplicate member names are refused as invalid JSON (spec §15.3).
    let req = raw_request(
        "POST",
        "/v1/introspect",
        br#"{"token":"a","token":"b"}"#.to_vec(),
        None,
    );
    h.send(req).await.assert_error(400, "invalid_json");
    // Wrong types.
    h.send(json_request("POST", "/v1/challenge", &json!({"did": 42})))
        .await
        .assert_error(400, "invalid_request");
    h.send(json_request("POST", "/v1/challenge", &json!({})))
        .await
        .assert_error(400, "invalid_request");
    h.send(json_request("POST", "/v1/challenge", &json!([1, 2])))
        .await
        .assert_error(400, "invalid_request");
    // Empty body where JSON is required.
    h.send(raw_request("POST", "/v1/challenge", vec![], None))
        .await
        .assert_error(400, "invalid_json");
    // Wrong content type.
    let req = Request::builder()
        .method("POST")
        .uri("/v1/challenge")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("did=x"))
        .unwrap();
    h.send(req)
        .await
        .assert_error(415, "unsupported_media_type");
    let req = Request::builder()
        .method("POST")
        .uri("/v1/challenge")
        .body(Body::from("{}"))
        .unwrap();
    h.send(req)
        .await
        .assert_error(415, "unsupported_media_type");
    // Oversized: declared length, and a body without a declared length.
    let big = vec![b' '; 64 * 1024 + 1];
    let req = Request::builder()
        .method("POST")
        .uri("/v1/challenge")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    h.send(req).await.assert_error(413, "payload_too_large");
    h.send(raw_request("POST", "/v1/challenge", big, None))
        .await
        .assert_error(413, "payload_too_large");
    // Just under the limit is read (and then refused as JSON).
    let mut near = b"{\"did\": \"x\"}".to_vec();
    near.resize(64 * 1024, b' ');
    h.send(raw_request("POST", "/v1/challenge", near, None))
        .await
        .assert_error(400, "invalid_did");
}

// ---------------------------------------------------------------- agents

#[tokio::test]
async fn agent_lifecycle_and_isolation() {
    let h = Harness::start().await;
    let a = h.register_operator("alpha.example.com").await;
    let b = h.register_operator("beta.example.com").await;
    h.verify_operator(&a).await;
    h.verify_operator(&b).await;

    let key = new_key();
    let body = json!({"operator_id": a.id, "public_key": key.public_key().to_jwk()});
    let resp = h
        .send(h.signed(&key, "POST", "/v1/agents", Some(&body)))
        .await;
    let created = resp.assert_ok(201).clone();
    let expected = Did::from_key(
        &Domain::parse("alpha.example.com").unwrap(),
        &key.public_key(),
    );
    assert_eq!(
        created["did"],
        expected.as_str(),
        "the server computes the DID"
    );
    assert_eq!(created["status"], "pending");
    assert_eq!(created["operator_id"], a.id.as_str());
    let did = expected.as_str().to_owned();
    let agent = crate::harness::Agent {
        did: did.clone(),
        key,
    };

    // Duplicate, unknown operator, proof of possession by another key.
    h.send(h.signed(&agent.key, "POST", "/v1/agents", Some(&body)))
        .await
        .assert_error(409, "agent_exists");
    let other = new_key();
    let ghost = json!({"operator_id": "op_aaaaaaaaaaaaaaaaaaaaaaaaaa", "public_key": other.public_key().to_jwk()});
    h.send(h.signed(&other, "POST", "/v1/agents", Some(&ghost)))
        .await
        .assert_error(404, "operator_not_found");
    let mismatched = json!({"operator_id": a.id, "public_key": other.public_key().to_jwk()});
    h.send(h.signed(&agent.key, "POST", "/v1/agents", Some(&mismatched)))
        .await
        .assert_error(401, "invalid_signature");

    // Read: by the agent, by its operator; not by another operator.
    let path = format!("/v1/agents/{did}");
    let resp = h.send(h.signed(&agent.key, "GET", &path, None)).await;
    let view = resp.assert_ok(200);
    assert_eq!(view["allowed_scopes"], json!([]));
    assert_eq!(view["did_document"]["id"], did.as_str());
    h.send(h.signed(&a.key, "GET", &path, None))
        .await
        .assert_ok(200);
    h.send(h.signed(&b.key, "GET", &path, None))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&a.key, "GET", "/v1/agents/not-a-did", None))
        .await
        .assert_error(400, "invalid_did");
    let unknown = Did::from_key(
        &Domain::parse("alpha.example.com").unwrap(),
        &new_key().public_key(),
    );
    h.send(h.signed(&a.key, "GET", &format!("/v1/agents/{unknown}"), None))
        .await
        .assert_error(404, "agent_not_found");

    // Scopes: never by the agent itself, never by another operator; invalid scopes refused.
    let scopes = json!({"allowed_scopes": ["read:mail", "send:mail"]});
    let spath = format!("{path}/scopes");
    h.send(h.signed(&agent.key, "PUT", &spath, Some(&scopes)))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&b.key, "PUT", &spath, Some(&scopes)))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(
        &a.key,
        "PUT",
        &spath,
        Some(&json!({"allowed_scopes": ["bad scope"]})),
    ))
    .await
    .assert_error(400, "invalid_scope");
    h.send(h.signed(
        &a.key,
        "PUT",
        &spath,
        Some(&json!({"allowed_scopes": "read"})),
    ))
    .await
    .assert_error(400, "invalid_request");
    let resp = h.send(h.signed(&a.key, "PUT", &spath, Some(&scopes))).await;
    let view = resp.assert_ok(200);
    assert_eq!(view["status"], "active");
    assert_eq!(view["allowed_scopes"], json!(["read:mail", "send:mail"]));

    // Listing is per operator.
    let resp = h
        .send(h.signed(
            &a.key,
            "GET",
            &format!("/v1/operators/{}/agents", a.id),
            None,
        ))
        .await;
    assert_eq!(resp.assert_ok(200)["agents"].as_array().unwrap().len(), 1);
    let resp = h
        .send(h.signed(
            &b.key,
            "GET",
            &format!("/v1/operators/{}/agents", b.id),
            None,
        ))
        .await;
    assert_eq!(resp.assert_ok(200)["agents"], json!([]));

    // Status changes: B cannot; A can; revoke is permanent.
    h.send(h.signed(&b.key, "POST", &format!("{path}/suspend"), None))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&agent.key, "POST", &format!("{path}/suspend"), None))
        .await
        .assert_error(403, "forbidden");
    let resp = h
        .send(h.signed(&a.key, "POST", &format!("{path}/suspend"), None))
        .await;
    assert_eq!(resp.assert_ok(200)["status"], "suspended");
    let resp = h
        .send(h.signed(&a.key, "POST", &format!("{path}/reactivate"), None))
        .await;
    assert_eq!(resp.assert_ok(200)["status"], "active");
    let resp = h
        .send(h.signed(&a.key, "POST", &format!("{path}/revoke"), None))
        .await;
    assert_eq!(resp.assert_ok(200)["status"], "revoked");
    h.send(h.signed(&a.key, "POST", &format!("{path}/reactivate"), None))
        .await
        .assert_error(409, "agent_revoked");
    h.send(h.signed(&a.key, "PUT", &spath, Some(&scopes)))
        .await
        .assert_error(409, "agent_revoked");
    let resp = h
        .send(h.signed(&a.key, "POST", &format!("{path}/revoke"), None))
        .await;
    assert_eq!(
        resp.assert_ok(200)["status"],
        "revoked",
        "revoking again is idempotent"
    );

    let resp = h
        .send(h.signed(
            &a.key,
            "GET",
            &format!("/v1/operators/{}/revocations", a.id),
            None,
        ))
        .await;
    let rev = resp.assert_ok(200);
    assert_eq!(rev["agents"][0]["did"], did.as_str());

    let actions: Vec<String> = h
        .store
        .list_audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for expected in [
        "agent.register",
        "agent.scopes",
        "agent.approve",
        "agent.suspend",
        "agent.reactivate",
        "agent.revoke",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "audit has {expected}: {actions:?}"
        );
    }
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn token_issuance_verifies_offline_and_introspects() {
    let h = Harness::start().await;
    let (_op, agent) = h
        .active_agent("alpha.example.com", &["read", "write"])
        .await;
    let ch = h.challenge(&agent.did).await;
    assert!(ch["challenge_id"].as_str().unwrap().starts_with("ch_"));
    assert_eq!(ch["nonce"].as_str().unwrap().len(), 43);
    assert_eq!(ch["expires_at"], START + 60);

    let proof = h.proof(&agent, &ch, "read", NonZeroU64::new(120));
    let resp = h.token_with_proof(&proof).await;
    let issued = resp.assert_ok(200).clone();
    assert_eq!(resp.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "read");
    assert_eq!(issued["aud"], "https://api.example.com");
    assert_eq!(issued["expires_at"], START + 120);
    let token = issued["token"].as_str().unwrap();

    // Offline verification against the published JWKS.
    let resp = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await;
    let keys = KeySet::from_json(&resp.json.to_string()).unwrap();
    let verified = Verifier::new(ISSUER, "https://api.example.com")
        .verify(token, &keys, UnixTime::from_secs(h.now()))
        .unwrap();
    let claims = verified.claims();
    assert_eq!(claims.sub, agent.did);
    assert_eq!(claims.client_id, agent.did);
    assert_eq!(claims.cnf.jkt, agent.key.public_key().thumbprint());
    assert_eq!(claims.exp - claims.iat, 120);

    let intro = h.introspect(token).await;
    assert_eq!(intro["active"], true);
    assert_eq!(intro["sub"], agent.did.as_str());
    assert_eq!(intro["scope"], "read");
    assert_eq!(intro["jti"], claims.jti.as_str());
    assert_eq!(intro["agent_status"], "active");
    assert_eq!(intro["operator_status"], "verified");

    // Default lifetime when ttl is 0.
    let ch = h.challenge(&agent.did).await;
    let resp = h
        .token_with_proof(&h.proof_with_ttl_zero(&agent, &ch, "read write"))
        .await;
    let json = resp.assert_ok(200);
    assert_eq!(json["expires_at"], START + 900);
    assert_eq!(json["scope"], "read write");
    // And when ttl is absent (what the protocol crate writes for the default).
    let ch = h.challenge(&agent.did).await;
    let resp = h
        .token_with_proof(&h.proof(&agent, &ch, "read write", None))
        .await;
    assert_eq!(resp.assert_ok(200)["expires_at"], START + 900);

    // After expiry, introspection says inactive.
    h.clock.advance(121 + 60);
    assert_eq!(h.introspect(token).await, json!({"active": false}));
    assert_eq!(h.introspect("garbage").await, json!({"active": false}));

    let actions: Vec<String> = h
        .store
        .list_audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "token.issue").count(), 3);
}

#[tokio::test]
async fn token_refusals() {
    let h = Harness::start().await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;

    // scope_not_allowed.
    let ch = h.challenge(&agent.did).await;
    h.token_with_proof(&h.proof(&agent, &ch, "read admin", None))
        .await
        .assert_error(403, "scope_not_allowed");
    // The refused attempt did not consume the challenge.
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_ok(200);
    // challenge_used.
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_error(409, "challenge_used");

    // invalid_ttl.
    let ch = h.challenge(&agent.did).await;
    h.token_with_proof(&h.proof(&agent, &ch, "read", NonZeroU64::new(7200)))
        .await
        .assert_error(400, "invalid_ttl");

    // challenge_expired.
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "read", None);
    h.clock.advance(61);
    h.token_with_proof(&proof)
        .await
        .assert_error(410, "challenge_expired");

    // challenge_not_found.
    let mut fake = h.challenge(&agent.did).await;
    fake["challenge_id"] = json!("ch_aaaaaaaaaaaaaaaaaaaaaaaaaa");
    h.token_with_proof(&h.proof(&agent, &fake, "read", None))
        .await
        .assert_error(404, "challenge_not_found");

    // invalid_proof: signed by another key, wrong nonce, wrong server, garbage.
    let ch = h.challenge(&agent.did).await;
    let impostor = crate::harness::Agent {
        did: agent.did.clone(),
        key: new_key(),
    };
    h.token_with_proof(&h.proof(&impostor, &ch, "read", None))
        .await
        .assert_error(401, "invalid_proof");
    let mut wrong_nonce = ch.clone();
    wrong_nonce["nonce"] = json!("A".repeat(43));
    h.token_with_proof(&h.proof(&agent, &wrong_nonce, "read", None))
        .await
        .assert_error(401, "invalid_proof");
    h.token_with_proof("garbage")
        .await
        .assert_error(401, "invalid_proof");
    // After those failures the real proof still works.
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_ok(200);

    // Another agent cannot answer this agent's challenge.
    let other = h.register_agent(&op).await;
    h.set_scopes(&op, &other, &["read"]).await.assert_ok(200);
    let ch = h.challenge(&agent.did).await;
    let stolen = crate::harness::Agent {
        did: other.did.clone(),
        key: other.key,
    };
    h.token_with_proof(&h.proof(&stolen, &ch, "read", None))
        .await
        .assert_error(401, "invalid_proof");

    // Challenges: only for registered agents.
    h.send(json_request(
        "POST",
        "/v1/challenge",
        &json!({"did": "did:agent:nope"}),
    ))
    .await
    .assert_error(400, "invalid_did");
    let unknown = Did::from_key(
        &Domain::parse("alpha.example.com").unwrap(),
        &new_key().public_key(),
    );
    h.send(json_request(
        "POST",
        "/v1/challenge",
        &json!({"did": unknown.as_str()}),
    ))
    .await
    .assert_error(404, "agent_not_found");
}

#[tokio::test]
async fn agent_and_operator_status_gate_tokens() {
    let h = Harness::start().await;
    // Pending agent (never approved).
    let op = h.register_operator("alpha.example.com").await;
    h.verify_operator(&op).await;
    let pending = h.register_agent(&op).await;
    let ch = h.challenge(&pending.did).await;
    h.token_with_proof(&h.proof(&pending, &ch, "read", None))
        .await
        .assert_error(403, "agent_not_active");

    // Approved agent, suspended.
    h.set_scopes(&op, &pending, &["read"]).await.assert_ok(200);
    let agent = pending;
    let token = h.token(&agent, "read").await;
    h.send(h.signed(
        &op.key,
        "POST",
        &format!("/v1/agents/{}/suspend", agent.did),
        None,
    ))
    .await
    .assert_ok(200);
    let ch = h.challenge(&agent.did).await;
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_error(403, "agent_not_active");
    assert_eq!(
        h.introspect(&token).await["active"],
        false,
        "a suspended agent's token is inactive"
    );
    h.send(h.signed(
        &op.key,
        "POST",
        &format!("/v1/agents/{}/reactivate", agent.did),
        None,
    ))
    .await
    .assert_ok(200);
    assert_eq!(
        h.introspect(&token).await["active"],
        false,
        "a token from before the suspension does not come back"
    );
    h.clock.advance(1);
    let after = h.token(&agent, "read").await;
    assert_eq!(h.introspect(&after).await["active"], true);

    // Operator never verified: it may register agents but grants nothing, and its agents get no token.
    let unverified = h.register_operator("beta.example.com").await;
    let b_agent = h.register_agent(&unverified).await;
    h.set_scopes(&unverified, &b_agent, &["read"])
        .await
        .assert_error(403, "operator_not_verified");
    let ch = h.challenge(&b_agent.did).await;
    h.token_with_proof(&h.proof(&b_agent, &ch, "read", None))
        .await
        .assert_error(403, "agent_not_active");
    // A pending agent is approved (scopes) or revoked; suspend and reactivate need an active agent.
    for action in ["suspend", "reactivate"] {
        h.send(h.signed(
            &unverified.key,
            "POST",
            &format!("/v1/agents/{}/{action}", b_agent.did),
            None,
        ))
        .await
        .assert_error(403, "agent_not_active");
    }
    h.send(h.signed(
        &unverified.key,
        "POST",
        &format!("/v1/agents/{}/revoke", b_agent.did),
        None,
    ))
    .await
    .assert_ok(200);

    // A verification past its lifetime counts as none: no tokens; every other call still works.
    h.clock.advance(30 * 86_400);
    let status = h
        .send(h.signed(&op.key, "GET", &format!("/v1/operators/{}", op.id), None))
        .await;
    assert_eq!(status.assert_ok(200)["status"], "unverified");
    assert_eq!(status.json["verification_expires_at"], START + 30 * 86_400);
    let ch = h.challenge(&agent.did).await;
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_error(403, "operator_not_verified");
    assert_eq!(h.introspect(&token).await["active"], false);
    // A lapsed operator grants nothing (scopes, reactivation) but can still take powers away.
    h.set_scopes(&op, &agent, &["read"])
        .await
        .assert_error(403, "operator_not_verified");
    let path = format!("/v1/agents/{}", agent.did);
    let resp = h
        .send(h.signed(&op.key, "POST", &format!("{path}/suspend"), None))
        .await;
    assert_eq!(resp.assert_ok(200)["status"], "suspended");
    h.send(h.signed(&op.key, "POST", &format!("{path}/reactivate"), None))
        .await
        .assert_error(403, "operator_not_verified");
    // Confirming again restores everything.
    h.verify_operator(&op).await;
    let resp = h
        .send(h.signed(&op.key, "POST", &format!("{path}/reactivate"), None))
        .await;
    assert_eq!(resp.assert_ok(200)["status"], "active");
    h.verify_operator(&op).await;
    h.token(&agent, "read").await;
}

#[tokio::test]
async fn unverified_claims_coexist_and_the_first_to_verify_owns_the_domain() {
    let h = Harness::start().await;
    let first = h.register_operator("alpha.example.com").await;
    let second = h.register_operator("alpha.example.com").await;
    assert_ne!(first.id, second.id);
    h.verify_operator(&second).await;
    // The first claim's record is published too, but the domain is taken.
    let path = format!("/v1/operators/{}/verification", first.id);
    let instr = h.send(h.signed(&first.key, "GET", &path, None)).await.json;
    h.dns.set_txt(
        "_auth4agent.alpha.example.com",
        vec![TxtRecord::from(instr["txt_record_value"].as_str().unwrap())],
    );
    let refused = h.send(h.signed(&first.key, "POST", &path, None)).await;
    refused.assert_error(409, "operator_exists");
    // A rival claimant learns that the domain is taken, not who holds it (issue 17 #5.2).
    assert!(
        !refused.json["message"]
            .as_str()
            .unwrap()
            .contains(&second.id),
        "{}",
        refused.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_proof_fifty_concurrent_requests_one_token() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "read", None);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = h.app.clone();
        let body = json!({"proof": proof});
        tasks.push(tokio::spawn(async move {
            crate::harness::send(&app, json_request("POST", "/v1/token", &body)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status.as_u16() {
            200 => ok += 1,
            _ => resp.assert_error(409, "challenge_used"),
        }
    }
    assert_eq!(ok, 1, "exactly one token for one proof");
}

/// Writes `sql` (with `params`) to the harness database past the store, then drops the serving
/// cache's rows with a change that goes through the store (re-verifying `op`).
async fn tamper(
    h: &Harness,
    op: &crate::harness::Operator,
    sql: &str,
    params: impl rusqlite::Params,
) {
    let conn = rusqlite::Connection::open(&h.db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn.execute(sql, params).unwrap();
    h.store
        .set_operator_verified(&op.id, h.now(), h.now() + 86_400)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_corrupt_stored_agent_is_an_internal_error_never_the_clients() {
    let h = Harness::start().await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "read", None);

    // The stored key becomes one that is no valid Ed25519 key (the small-order identity point).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    tamper(
        &h,
        &op,
        "UPDATE agents SET public_key = ?1 WHERE did = ?2",
        rusqlite::params![&identity[..], agent.did],
    )
    .await;
    h.token_with_proof(&proof)
        .await
        .assert_error(500, "internal_error");
    // (`POST /v1/challenge` has seen this DID registered and no longer reads its row: the token path
    // above is where the corrupt row shows.)
    let path = format!("/v1/agents/{}", agent.did);
    h.send(h.signed(&op.key, "GET", &path, None))
        .await
        .assert_error(500, "internal_error");
    let path = format!("/v1/operators/{}/agents", op.id);
    h.send(h.signed(&op.key, "GET", &path, None))
        .await
        .assert_error(500, "internal_error");
}

#[tokio::test]
async fn a_forged_or_foreign_challenge_is_refused_and_burns_nothing() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let (_op2, other) = h.active_agent("beta.example.com", &["read"]).await;
    let ch = h.challenge(&agent.did).await;
    // The id's MAC covers its expiry and randomness: any change makes it unknown.
    let id = ch["challenge_id"].as_str().unwrap();
    let mut forged = ch.clone();
    let last = if id.ends_with('A') { "B" } else { "A" };
    forged["challenge_id"] = format!("{}{last}", &id[..id.len() - 1]).into();
    h.token_with_proof(&h.proof(&agent, &forged, "read", None))
        .await
        .assert_error(404, "challenge_not_found");
    // Another agent answering it: its nonce is derived for the DID it was issued to.
    let resp = h
        .token_with_proof(&h.proof(&other, &ch, "read", None))
        .await;
    resp.assert_error(401, "invalid_proof");
    // Neither attempt consumed the challenge.
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_ok(200);
}

// ---------------------------------------------------------------- revocation

#[tokio::test]
async fn token_revocation() {
    let h = Harness::start().await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let other_op = h.register_operator("beta.example.com").await;

    // By the agent.
    let token = h.token(&agent, "read").await;
    let body = json!({"token": token});
    h.send(h.signed(&other_op.key, "POST", "/v1/revoke", Some(&body)))
        .await
        .assert_error(403, "forbidden");
    let resp = h
        .send(h.signed(&agent.key, "POST", "/v1/revoke", Some(&body)))
        .await;
    let json = resp.assert_ok(200);
    assert_eq!(json["revoked"], true);
    let jti = json["jti"].as_str().unwrap().to_owned();
    assert_eq!(h.introspect(&token).await, json!({"active": false}));
    // Again: idempotent.
    h.send(h.signed(&agent.key, "POST", "/v1/revoke", Some(&body)))
        .await
        .assert_ok(200);
    let revocations = format!("/v1/operators/{}/revocations", op.id);
    let resp = h.send(h.signed(&op.key, "GET", &revocations, None)).await;
    let list = resp.assert_ok(200)["tokens"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["jti"], jti.as_str());
    assert_eq!(list[0]["did"], agent.did.as_str());
    assert_eq!(list[0]["revoked_at"], START);

    // By the operator, after the token expired.
    let token2 = h.token(&agent, "read").await;
    h.clock.advance(2000);
    let body2 = json!({"token": token2});
    h.send(h.signed(&op.key, "POST", "/v1/revoke", Some(&body2)))
        .await
        .assert_ok(200);

    // Not a token of ours.
    h.send(h.signed(
        &agent.key,
        "POST",
        "/v1/revoke",
        Some(&json!({"token": "x.y.z"})),
    ))
    .await
    .assert_error(401, "invalid_token");
    h.send(json_request("POST", "/v1/revoke", &body))
        .await
        .assert_error(401, "missing_signature");

    // Expired tokens leave the list.
    let resp = h.send(h.signed(&op.key, "GET", &revocations, None)).await;
    assert_eq!(resp.assert_ok(200)["tokens"], json!([]));
    let actions: Vec<String> = h
        .store
        .list_audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "token.revoke").count(), 2);
}

// ---------------------------------------------------------------- background work

#[tokio::test]
async fn reverification_lapses_when_the_record_is_gone() {
    let mut config = test_config();
    config.verification_lifetime = 3600;
    config.reverify_interval = Duration::from_secs(600);
    let h = Harness::with_config(config).await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let token = h.token(&agent, "read").await;

    // Not due yet: nothing happens.
    assert_eq!(
        background::reverify_due(&h.state).await.unwrap(),
        Default::default()
    );

    // Due, record still there: renewed.
    h.clock.advance(3000);
    let stats = background::reverify_due(&h.state).await.unwrap();
    assert_eq!(stats.renewed, 1);
    let renewed = h.store.get_operator(&op.id).await.unwrap().unwrap();
    assert_eq!(renewed.verification_expires_at, Some(h.now() + 3600));

    // Due, DNS failing: nothing changes, it is retried on the next pass.
    let record = "_auth4agent.alpha.example.com";
    h.dns.fail(record, ResponseCode::ServFail);
    h.clock.advance(3000);
    let stats = background::reverify_due(&h.state).await.unwrap();
    assert_eq!((stats.failed, stats.renewed, stats.lapsed), (1, 0, 0));
    let op_row = h.store.get_operator(&op.id).await.unwrap().unwrap();
    assert_eq!(
        op_row.verification_expires_at,
        renewed.verification_expires_at
    );

    // Due, record gone: unverified, and the agent gets no tokens.
    h.dns.remove(record);
    let stats = background::reverify_due(&h.state).await.unwrap();
    assert_eq!(stats.lapsed, 1);
    let resp = h
        .send(h.signed(&op.key, "GET", &format!("/v1/operators/{}", op.id), None))
        .await;
    assert_eq!(resp.assert_ok(200)["status"], "unverified");
    let ch = h.challenge(&agent.did).await;
    h.token_with_proof(&h.proof(&agent, &ch, "read", None))
        .await
        .assert_error(403, "operator_not_verified");
    assert_eq!(h.introspect(&token).await["active"], false);
}

#[tokio::test]
async fn purge_removes_redeemed_challenges_after_their_expiry_and_grace() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "read", None);
    h.token_with_proof(&proof).await.assert_ok(200);
    h.token_with_proof(&proof)
        .await
        .assert_error(409, "challenge_used");
    // Kept past its expiry for the leeway and the grace (replicas' clock skew), then purged.
    h.clock.advance(60 + h.state.config.leeway);
    assert_eq!(background::purge(&h.state).await.unwrap().challenges, 0);
    h.clock.advance(background::REDEMPTION_GRACE);
    assert_eq!(background::purge(&h.state).await.unwrap().challenges, 1);
    h.token_with_proof(&proof)
        .await
        .assert_error(410, "challenge_expired");
}

#[tokio::test]
async fn purge_drops_audit_events_past_the_retention() {
    let mut config = test_config();
    config.audit_retention = 1_000;
    let h = Harness::with_config(config).await;
    h.active_agent("alpha.example.com", &["read"]).await;
    let before = h.store.list_audit(100).await.unwrap().len();
    assert!(before > 0, "registration and approval are audited");
    h.clock.advance(500);
    assert_eq!(background::purge(&h.state).await.unwrap().audit_events, 0);
    h.clock.advance(501);
    let stats = background::purge(&h.state).await.unwrap();
    assert_eq!(stats.audit_events as usize, before);
    assert!(h.store.list_audit(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn background_task_stops_on_shutdown() {
    let h = Harness::start().await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = background::spawn(h.state.clone(), rx);
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .unwrap();
}

// ---------------------------------------------------------------- operations

#[tokio::test]
async fn rate_limit_per_client() {
    let mut config = test_config();
    config.rate_limit = 1.0;
    config.rate_limit_burst = 2;
    let h = Harness::with_config(config).await;
    let from = |ip: [u8; 4]| {
        let mut req = json_request("POST", "/v1/challenge", &json!({"did": "x"}));
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        req
    };
    h.send(from([127, 0, 0, 1]))
        .await
        .assert_error(400, "invalid_did");
    h.send(from([127, 0, 0, 1]))
        .await
        .assert_error(400, "invalid_did");
    let resp = h.send(from([127, 0, 0, 1])).await;
    resp.assert_error(429, "rate_limited");
    let retry: u64 = resp.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry));
    // Another client is not affected; authenticated and public read endpoints are not limited.
    h.send(from([127, 0, 0, 2]))
        .await
        .assert_error(400, "invalid_did");
    let mut health = raw_request("GET", "/health", vec![], None);
    health
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    h.send(health).await.assert_ok(200);
}

#[tokio::test]
async fn slow_body_hits_the_request_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut config = test_config();
    config.request_timeout = Duration::from_millis(500);
    let h = Harness::with_config(config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        b"POST /v1/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"did\"",
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server answered before the client gave up"
    );
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\":\"request_timeout\""), "{text}");
}

#[tokio::test]
async fn restart_keeps_state_and_jwks() {
    let h = Harness::start().await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let token = h.token(&agent, "read").await;
    let jwks_before = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await
        .json;

    // A second app over the same database file.
    let store: Arc<dyn auth4agent_server::store::Store> =
        Arc::new(auth4agent_server::store::SqliteStore::open(&h.db).unwrap());
    let verifier = auth4agent_server::dns::DnsVerifier::new(vec![h.dns.addr()]);
    let (app2, _state2) =
        auth4agent_server::app::build(test_config(), store, h.clock.clone(), verifier)
            .await
            .unwrap();
    let jwks_after = crate::harness::send(
        &app2,
        raw_request("GET", "/.well-known/jwks.json", vec![], None),
    )
    .await
    .json;
    assert_eq!(jwks_before, jwks_after);
    let resp = crate::harness::send(
        &app2,
        h.signed(&op.key, "GET", &format!("/v1/operators/{}", op.id), None),
    )
    .await;
    assert_eq!(resp.assert_ok(200)["status"], "verified");
    let resp = crate::harness::send(
        &app2,
        json_request("POST", "/v1/introspect", &json!({"token": token})),
    )
    .await;
    assert_eq!(resp.assert_ok(200)["active"], true);
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let old_kid = h.state.keyring.active(h.now()).kid().to_owned();
    let token = h.token(&agent, "read").await;
    let new_kid = h.state.keyring.rotate(h.now(), h.now()).await.unwrap().kid;
    assert_ne!(old_kid, new_kid);
    let jwks = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await
        .json;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    assert_eq!(h.introspect(&token).await["active"], true);
    let token2 = h.token(&agent, "read").await;
    let header = auth4agent_protocol::UnverifiedJws::decode(&token2, "at+jwt").unwrap();
    assert_eq!(header.kid(), new_kid);
    // Past the retention, the retired key leaves the JWKS.
    h.clock.advance(3600 + 60 + 1);
    let jwks = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await
        .json;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let _ = PublicKey::from_jwk(&serde_json::from_value(jwks["keys"][0].clone()).unwrap()).unwrap();
}

/// The kids the JWKS endpoint publishes now.
async fn published_kids(h: &Harness) -> Vec<String> {
    let jwks = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await
        .json;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    auth4agent_protocol::UnverifiedJws::decode(token, "at+jwt")
        .unwrap()
        .kid()
        .to_owned()
}

/// Publish-ahead (issue 17 §6): a key added with an activation in the future is in the JWKS at once,
/// tokens keep the old kid until the activation and carry the new one from it, and tokens of the
/// old key stay valid.
#[tokio::test]
async fn a_key_published_ahead_signs_only_from_its_activation() {
    let h = Harness::start().await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let old_kid = h.state.keyring.active(h.now()).kid().to_owned();
    let before = h.token(&agent, "read").await;
    let next = h
        .state
        .keyring
        .rotate(h.now(), h.now() + 360)
        .await
        .unwrap();
    let kids = published_kids(&h).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&next.kid),
        "{kids:?}"
    );
    h.clock.advance(359);
    assert_eq!(kid_of(&h.token(&agent, "read").await), old_kid);
    h.clock.advance(1);
    let after = h.token(&agent, "read").await;
    assert_eq!(kid_of(&after), next.kid);
    assert_eq!(h.introspect(&before).await["active"], true);
    assert_eq!(h.introspect(&after).await["active"], true);
}

/// `--key-rotation-interval`: the background pass adds the next key `--key-publish-ahead` before the
/// current one has signed for the interval, and it takes over at the interval.
#[tokio::test]
async fn the_scheduled_rotation_publishes_the_next_key_ahead() {
    let mut config = test_config();
    config.key_rotation_interval = Some(3600);
    config.key_publish_ahead = 600;
    let h = Harness::with_config(config).await;
    let (_op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let first = h.state.keyring.active(h.now()).kid().to_owned();
    let started = h.store.load_signing_keys().await.unwrap()[0].activates_at;
    h.clock.set(started + 2999);
    background::rotate_on_schedule(&h.state).await;
    assert_eq!(published_kids(&h).await, vec![first.clone()], "not yet due");
    h.clock.set(started + 3000);
    background::rotate_on_schedule(&h.state).await;
    background::rotate_on_schedule(&h.state).await;
    let kids = published_kids(&h).await;
    assert_eq!(kids.len(), 2, "one next key, published ahead: {kids:?}");
    let next = kids.iter().find(|k| **k != first).unwrap().clone();
    assert_eq!(kid_of(&h.token(&agent, "read").await), first);
    h.clock.set(started + 3600);
    assert_eq!(kid_of(&h.token(&agent, "read").await), next);
}

/// The root-key change (spec §10.5) through the router: signed by the old key with an inner message of
/// the new one; afterwards the old key is refused, the new one works, the audit log names both keys.
#[tokio::test]
async fn an_operator_key_change_switches_the_signing_key_and_is_audited() {
    let h = Harness::start().await;
    let (op, _agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let new = new_key();
    let claims = auth4agent_protocol::KeyChangeClaims::new(
        &op.id,
        &op.key.public_key(),
        ISSUER,
        UnixTime::from_secs(h.now()),
    );
    let body = json!({
        "public_key": new.public_key().to_jwk(),
        "key_change": auth4agent_protocol::sign_key_change(&new, &claims).unwrap(),
    });
    let path = format!("/v1/operators/{}/key", op.id);
    // Signed by the new key: not (yet) the operator's.
    h.send(h.signed(&new, "POST", &path, Some(&body)))
        .await
        .assert_error(403, "forbidden");
    let changed = h.send(h.signed(&op.key, "POST", &path, Some(&body))).await;
    assert_eq!(changed.assert_ok(200)["id"], op.id.as_str());
    let status = format!("/v1/operators/{}", op.id);
    h.send(h.signed(&op.key, "GET", &status, None))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&new, "GET", &status, None))
        .await
        .assert_ok(200);
    let audit = h.store.list_audit(50).await.unwrap();
    let event = audit
        .iter()
        .find(|e| e.action == "operator.key_change")
        .expect("an operator.key_change event");
    assert_eq!(
        (event.actor.as_str(), event.subject.as_str()),
        (op.id.as_str(), op.id.as_str())
    );
    assert_eq!(
        event.detail,
        format!(
            "old={} new={}",
            op.key.public_key().thumbprint(),
            new.public_key().thumbprint()
        )
    );
    // The same key again is refused.
    let same = json!({
        "public_key": new.public_key().to_jwk(),
        "key_change": auth4agent_protocol::sign_key_change(
            &new,
            &auth4agent_protocol::KeyChangeClaims::new(&op.id, &new.public_key(), ISSUER, UnixTime::from_secs(h.now())),
        )
        .unwrap(),
    });
    h.send(h.signed(&new, "POST", &path, Some(&same)))
        .await
        .assert_error(400, "invalid_request");
}

/// Recovery over DNS (spec §10.6) through the router: a lapsed operator recovered by a new key; the
/// recovery's token becomes the operator's, tokens from before the lapse stay inactive, the old key is
/// refused, and the audit log has the three recovery events.
#[tokio::test]
async fn a_recovery_over_dns_replaces_the_key_and_is_audited() {
    let h = Harness::start().await;
    let (op, agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let token = h.token(&agent, "read").await;
    // The proof lapses (the key is lost; nobody re-verifies).
    h.clock.advance(30 * 86_400 + 1);
    let new = new_key();
    let body = json!({ "public_key": new.public_key().to_jwk() });
    let start = format!("/v1/operators/{}/recovery", op.id);
    let confirm = format!("/v1/operators/{}/recovery/confirm", op.id);
    let started = h.send(h.signed(&new, "POST", &start, Some(&body))).await;
    let started = started.assert_ok(200).clone();
    // Signed by another key than the one in the body: the proof of possession fails.
    h.send(h.signed(&op.key, "POST", &start, Some(&body)))
        .await
        .assert_error(401, "invalid_signature");
    // The old TXT value only: refused, nothing changes.
    h.send(h.signed(&new, "POST", &confirm, Some(&body)))
        .await
        .assert_error(422, "dns_record_mismatch");
    h.dns.set_txt(
        started["txt_record_name"].as_str().unwrap(),
        vec![TxtRecord::from(
            started["txt_record_value"].as_str().unwrap(),
        )],
    );
    let recovered = h.send(h.signed(&new, "POST", &confirm, Some(&body))).await;
    assert_eq!(recovered.assert_ok(200)["status"], "verified");
    let status = format!("/v1/operators/{}", op.id);
    h.send(h.signed(&op.key, "GET", &status, None))
        .await
        .assert_error(403, "forbidden");
    h.send(h.signed(&new, "GET", &status, None))
        .await
        .assert_ok(200);
    // The operator's TXT token is now the recovery's.
    let instructions = h
        .send(h.signed(&new, "GET", &format!("{status}/verification"), None))
        .await;
    assert_eq!(
        instructions.assert_ok(200)["txt_record_value"],
        started["txt_record_value"]
    );
    // Tokens from before the lapse stay inactive; new ones (a second later: the cutoff is inclusive)
    // are issued and active.
    assert_eq!(h.introspect(&token).await["active"], false);
    h.clock.advance(1);
    let fresh = h.token(&agent, "read").await;
    assert_eq!(h.introspect(&fresh).await["active"], true);
    let audit = h.store.list_audit(100).await.unwrap();
    let actor = format!("key:{}", new.public_key().thumbprint());
    for action in [
        "operator.recovery_start",
        "operator.recovery_failed",
        "operator.recover",
    ] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == actor && e.subject == op.id),
            "{action}: {audit:?}"
        );
    }
}

/// At most `MAX_PENDING_RECOVERIES` live recoveries per operator: one more new key is refused with
/// 429, renewing one in progress is not, and a recovery past its time frees its place.
#[tokio::test]
async fn an_operator_has_a_bounded_number_of_recoveries_in_progress() {
    let h = Harness::start().await;
    let (op, _agent) = h.active_agent("alpha.example.com", &["read"]).await;
    let start = format!("/v1/operators/{}/recovery", op.id);
    let body =
        |key: &auth4agent_protocol::SigningKey| json!({ "public_key": key.public_key().to_jwk() });
    let keys: Vec<_> = (0..auth4agent_server::service::operators::MAX_PENDING_RECOVERIES)
        .map(|_| new_key())
        .collect();
    for key in &keys {
        h.send(h.signed(key, "POST", &start, Some(&body(key))))
            .await
            .assert_ok(200);
    }
    let extra = new_key();
    h.send(h.signed(&extra, "POST", &start, Some(&body(&extra))))
        .await
        .assert_error(429, "rate_limited");
    h.send(h.signed(&keys[0], "POST", &start, Some(&body(&keys[0]))))
        .await
        .assert_ok(200);
    h.clock
        .advance(auth4agent_server::service::operators::RECOVERY_TTL + 1);
    h.send(h.signed(&extra, "POST", &start, Some(&body(&extra))))
        .await
        .assert_ok(200);
}

#[tokio::test]
async fn panics_become_json_500() {
    let h = Harness::start().await;
    let routes = axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async {
            if true {
                panic!("handler bug");
            }
        }),
    );
    let app = auth4agent_server::app::with_middleware(routes, h.state.clone());
    let resp = crate::harness::send(&app, raw_request("GET", "/boom", vec![], None)).await;
    resp.assert_error(500, "internal_error");
    assert!(
        !resp.json["message"]
            .as_str()
            .unwrap()
            .contains("handler bug"),
        "no internals leak"
    );
}

/// A verification that lapsed (its time passed, before any background pass recorded it) no longer
/// holds the domain: a new claimant registers and proves it, and the old owner is released.
#[tokio::test]
async fn a_lapsed_verification_does_not_block_a_new_claimant() {
    let mut config = test_config();
    config.verification_lifetime = 3600;
    let h = Harness::with_config(config).await;
    let owner = h.register_operator("lapse.example.com").await;
    h.verify_operator(&owner).await;

    // Still current: the domain is taken.
    let key = new_key();
    let body = json!({"domain": "lapse.example.com", "public_key": key.public_key().to_jwk()});
    h.send(h.signed(&key, "POST", "/v1/operators", Some(&body)))
        .await
        .assert_error(409, "operator_exists");

    h.clock.advance(3601);
    let claimant = h.register_operator("lapse.example.com").await;
    h.verify_operator(&claimant).await;
    let released = h.store.get_operator(&owner.id).await.unwrap().unwrap();
    assert_eq!(released.status, OperatorStatus::Unverified);
    let path = format!("/v1/operators/{}/verification", owner.id);
    h.send(h.signed(&owner.key, "POST", &path, None))
        .await
        .assert_error(409, "operator_exists");
}

// ---------------------------------------------------------------- pending registrations and pages

/// `POST /v1/agents` for a new key under `op`.
async fn try_register_agent(h: &Harness, op: &crate::harness::Operator) -> crate::harness::Resp {
    let key = new_key();
    let body = json!({"operator_id": op.id, "public_key": key.public_key().to_jwk()});
    h.send(h.signed(&key, "POST", "/v1/agents", Some(&body)))
        .await
}

#[tokio::test]
async fn pending_registrations_are_capped_per_operator_and_expire() {
    let mut config = test_config();
    config.max_pending_agents = 3;
    config.pending_agent_ttl = 7 * 86_400;
    let h = Harness::with_config(config).await;
    let op = h.register_operator("pending.example.com").await;
    h.verify_operator(&op).await;
    let first = h.register_agent(&op).await;
    h.register_agent(&op).await;
    h.register_agent(&op).await;
    try_register_agent(&h, &op)
        .await
        .assert_error(429, "too_many_pending_agents");
    // Another operator has its own allowance.
    let other = h.register_operator("other-pending.example.com").await;
    h.register_agent(&other).await;

    // Approving one frees a place.
    h.set_scopes(&op, &first, &["read"]).await.assert_ok(200);
    h.register_agent(&op).await;

    // A week later the purge deletes the pending ones, never the approved one.
    h.clock.advance(7 * 86_400 + 1);
    let stats = background::purge(&h.state).await.unwrap();
    assert_eq!(stats.pending_agents, 4, "3 of op and 1 of other");
    let (listed, _) = page(&h, &op, "").await;
    assert_eq!(listed, vec![first.did.clone()]);
    try_register_agent(&h, &op).await.assert_ok(201);
}

#[tokio::test]
async fn registrations_are_rate_limited_per_operator_whatever_the_client() {
    let mut config = test_config();
    config.registration_rate_limit = 1.0;
    config.max_pending_agents = 0;
    let h = Harness::with_config(config).await;
    let op = h.register_operator("burst.example.com").await;
    // Burst 10, then refused with Retry-After, each from a new key (as rotating clients would be).
    for _ in 0..10 {
        try_register_agent(&h, &op).await.assert_ok(201);
    }
    let refused = try_register_agent(&h, &op).await;
    refused.assert_error(429, "rate_limited");
    assert!(refused.headers.get("retry-after").is_some(), "{refused:?}");
    let other = h.register_operator("calm.example.com").await;
    try_register_agent(&h, &other).await.assert_ok(201);
}

/// One page of `op`'s agents after `cursor` (empty: the first), as DIDs, and the next cursor.
async fn page(
    h: &Harness,
    op: &crate::harness::Operator,
    query: &str,
) -> (Vec<String>, Option<String>) {
    let path = format!("/v1/operators/{}/agents", op.id);
    let mut req = h.signed(&op.key, "GET", &path, None);
    if !query.is_empty() {
        *req.uri_mut() = format!("{path}?{query}").parse().unwrap();
    }
    let resp = h.send(req).await;
    let body = resp.assert_ok(200);
    let dids = body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["did"].as_str().unwrap().to_owned())
        .collect();
    (dids, body["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn the_agent_list_is_paged_with_a_cursor() {
    let h = Harness::start().await;
    let op = h.register_operator("pages.example.com").await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(h.register_agent(&op).await.did);
        if i % 2 == 0 {
            h.clock.advance(1);
        }
    }
    // List order: registration time, then DID (the store's full list is in that order).
    let (everything, none) = page(&h, &op, "").await;
    assert_eq!(none, None);
    let stored: Vec<String> = h
        .store
        .list_agents(&op.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.did.as_str().to_owned())
        .collect();
    assert_eq!(everything, stored);
    let mut registered = all.clone();
    registered.sort();
    let mut listed = everything.clone();
    listed.sort();
    assert_eq!(listed, registered);

    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (dids, next) = page(&h, &op, &query).await;
        assert!(dids.len() <= 2);
        seen.extend(dids);
        pages += 1;
        match next {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen, everything,
        "pages concatenate to the whole list, in order"
    );

    let path = format!("/v1/operators/{}/agents", op.id);
    for bad in ["limit=0", "limit=1001", "cursor=not-a-cursor", "limit=abc"] {
        let mut req = h.signed(&op.key, "GET", &path, None);
        *req.uri_mut() = format!("{path}?{bad}").parse().unwrap();
        let resp = h.send(req).await;
        assert_eq!(resp.status.as_u16(), 400, "{bad}: {resp:?}");
    }
}

#[tokio::test]
async fn a_did_has_a_bounded_number_of_open_challenges() {
    let mut config = test_config();
    config.max_challenges_per_did = 3;
    let h = Harness::with_config(config).await;
    let (_op, agent) = h.active_agent("challenges.example.com", &["read"]).await;
    let first = h.challenge(&agent.did).await;
    h.challenge(&agent.did).await;
    h.challenge(&agent.did).await;
    let body = json!({"did": agent.did});
    h.send(json_request("POST", "/v1/challenge", &body))
        .await
        .assert_error(429, "too_many_challenges");
    // Answering one frees its place.
    let proof = h.proof(&agent, &first, "read", None);
    h.token_with_proof(&proof).await.assert_ok(200);
    h.challenge(&agent.did).await;
    h.send(json_request("POST", "/v1/challenge", &body))
        .await
        .assert_error(429, "too_many_challenges");
    // Expired ones free theirs (60 s).
    h.clock.advance(61);
    h.challenge(&agent.did).await;
}

/// Tokens issued before a suspension, a revocation or an operator's lapse never introspect active
/// again, whatever happens next; tokens issued after the agent or operator is back are active.
#[tokio::test]
async fn tokens_issued_before_a_suspension_or_a_lapse_do_not_come_back() {
    let mut config = test_config();
    config.verification_lifetime = 3600;
    let h = Harness::with_config(config).await;
    let (op, agent) = h.active_agent("cutoff.example.com", &["read"]).await;
    let before = h.token(&agent, "read").await;
    let path = format!("/v1/agents/{}", agent.did);
    h.send(h.signed(&op.key, "POST", &format!("{path}/suspend"), None))
        .await
        .assert_ok(200);
    h.clock.advance(1);
    h.send(h.signed(&op.key, "POST", &format!("{path}/reactivate"), None))
        .await
        .assert_ok(200);
    assert_eq!(
        h.introspect(&before).await["active"],
        false,
        "suspended once"
    );
    let after = h.token(&agent, "read").await;
    assert_eq!(h.introspect(&after).await["active"], true);

    // The operator's proof lapses, then is proven again: tokens from before the lapse stay inactive.
    h.clock.advance(3600);
    assert_eq!(h.introspect(&after).await["active"], false, "lapsed");
    h.verify_operator(&op).await;
    assert_eq!(
        h.introspect(&after).await["active"],
        false,
        "from before the lapse"
    );
    h.clock.advance(1);
    let fresh = h.token(&agent, "read").await;
    assert_eq!(h.introspect(&fresh).await["active"], true);
}
