//! The server API signed by hand: refusals the CLI would never send (an agent signing its own
//! scope change, replays, signatures bound to another method, path or body).

use serde_json::json;

use crate::support::{World, strings};

#[test]
fn agent_signature_cannot_set_scopes() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let path = format!("/v1/agents/{}/scopes", agent.did);
    let body = json!({ "allowed_scopes": ["admin", "read", "write"] });

    let refused = http.signed(&agent.signer(), "PUT", &path, Some(&body));
    assert_eq!((refused.status, refused.error_code()), (403, Some("forbidden")), "{refused:?}");
    assert_eq!(strings(&operator.agent(&agent.did)["allowed_scopes"]), ["read", "write"]);

    // The same request signed by the operator passes: the refusal was about the signer.
    let granted = http.signed(&operator.signer(), "PUT", &path, Some(&body));
    assert_eq!(granted.status, 200, "{granted:?}");
    assert_eq!(strings(&granted.json()["allowed_scopes"]), ["admin", "read", "write"]);
}

#[test]
fn signed_requests_are_single_use() {
    let world = World::new();
    let (operator, _agent) = world.operator_and_agent();
    let http = world.server.http();
    let path = format!("/v1/operators/{}", operator.id);
    let signature = operator.signer().sign("GET", &http.url(&path), b"");
    let header = [(auth4agent_protocol::SIGNATURE_HEADER, signature.as_str())];

    let first = http.send("GET", &path, None, &header).expect("first");
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json()["id"], operator.id.as_str());
    let replay = http.send("GET", &path, None, &header).expect("replay");
    assert_eq!((replay.status, replay.error_code()), (409, Some("request_replayed")), "{replay:?}");
}

#[test]
fn signatures_bind_method_path_and_body() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let signer = operator.signer();
    let operator_path = format!("/v1/operators/{}", operator.id);

    let unsigned = http.send("GET", &operator_path, None, &[]).expect("unsigned");
    assert_eq!((unsigned.status, unsigned.error_code()), (401, Some("missing_signature")), "{unsigned:?}");

    let other_path = signer.sign("GET", &http.url(&format!("{operator_path}/agents")), b"");
    let moved = http
        .send("GET", &operator_path, None, &[(auth4agent_protocol::SIGNATURE_HEADER, &other_path)])
        .expect("moved");
    assert_eq!((moved.status, moved.error_code()), (401, Some("htu_mismatch")), "{moved:?}");

    let verification = format!("{operator_path}/verification");
    let as_get = signer.sign("GET", &http.url(&verification), b"");
    let posted = http
        .send("POST", &verification, None, &[(auth4agent_protocol::SIGNATURE_HEADER, &as_get)])
        .expect("posted");
    assert_eq!((posted.status, posted.error_code()), (401, Some("htm_mismatch")), "{posted:?}");

    let scopes = format!("/v1/agents/{}/scopes", agent.did);
    let signed_body = json!({ "allowed_scopes": ["read"] }).to_string();
    let sent_body = json!({ "allowed_scopes": ["read", "admin"] }).to_string();
    let signature = signer.sign("PUT", &http.url(&scopes), signed_body.as_bytes());
    let swapped = http
        .send("PUT", &scopes, Some(sent_body.into_bytes()), &[(auth4agent_protocol::SIGNATURE_HEADER, &signature)])
        .expect("swapped");
    assert_eq!((swapped.status, swapped.error_code()), (401, Some("body_hash_mismatch")), "{swapped:?}");
    assert_eq!(strings(&operator.agent(&agent.did)["allowed_scopes"]), ["read", "write"]);
}

#[test]
fn tokens_come_only_from_a_fresh_challenge() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let challenge = http.post_json("/v1/challenge", &json!({ "did": agent.did }), &[]).expect("challenge");
    assert_eq!(challenge.status, 200, "{challenge:?}");
    let doc = challenge.json();
    assert!(doc["challenge_id"].as_str().is_some_and(|id| id.starts_with("ch_")), "{doc}");
    assert_eq!(doc["nonce"].as_str().map(str::len), Some(43), "{doc}");
    let expires = doc["expires_at"].as_u64().expect("expires_at");
    assert!(expires <= crate::support::unix_now() + 61, "challenges live at most 60 s");

    let unknown = http
        .post_json("/v1/challenge", &json!({ "did": format!("did:agent:example.com:{}", "0".repeat(32)) }), &[])
        .expect("challenge");
    assert_eq!((unknown.status, unknown.error_code()), (404, Some("agent_not_found")), "{unknown:?}");

    let bogus = http.post_json("/v1/token", &json!({ "proof": "a.b.c" }), &[]).expect("token");
    assert_eq!((bogus.status, bogus.error_code()), (401, Some("invalid_proof")), "{bogus:?}");
}
