//! Operator root-key rotation (issue 17 §6, the ACME key change of RFC 8555 §7.3.5) through the real CLI
//! and the real server, on the backend `AUTH4AGENT_TEST_BACKEND` names: `operator-key rotate` makes the
//! new key the operator's, the old key is refused from then on, the agents and their tokens carry on,
//! and a key change that is not signed by the key it presents is refused.

use std::os::unix::fs::PermissionsExt;

use auth4agent_testkit::{HttpResponse, Signer};
use serde_json::{Value, json};

use crate::support::{World, str_field};

/// A request to the world's server signed by `signer`.
fn signed(
    world: &World,
    signer: &Signer,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> HttpResponse {
    let body = body.map(|b| b.to_string().into_bytes());
    let url = format!("{}{path}", world.server.issuer());
    let signature = signer.sign(method, &url, body.as_deref().unwrap_or_default());
    world
        .server
        .http()
        .send(
            method,
            path,
            body,
            &[(auth4agent_protocol::SIGNATURE_HEADER, &signature)],
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[test]
fn operator_key_rotate_replaces_the_root_key_and_the_old_one_is_refused() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let old = operator.signer();
    let before = agent.token("read");

    let rotated = operator.cli.ok_json(["operator-key", "rotate"]);
    assert_eq!(
        rotated["previous_thumbprint"],
        old.thumbprint(),
        "{rotated}"
    );
    let new_thumbprint = str_field(&rotated, "thumbprint");
    assert_ne!(new_thumbprint, old.thumbprint());
    assert_eq!(rotated["operator"]["id"], operator.id.as_str(), "{rotated}");
    assert_eq!(rotated["operator"]["status"], "verified", "{rotated}");

    // The home holds the new key only: 0600, no pending file left, operator.json names it.
    let keys = operator.cli.home().join("keys");
    let mode = std::fs::metadata(keys.join("operator.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!keys.join("operator.key.new").exists());
    assert_eq!(operator.signer().thumbprint(), new_thumbprint);
    let identity: Value = serde_json::from_str(
        &std::fs::read_to_string(operator.cli.home().join("operator.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(identity["thumbprint"], new_thumbprint.as_str());

    // The new key works (every operator command signs with it), the old one is refused.
    assert_eq!(operator.status()["status"], "verified");
    let granted = operator.set_scopes(&agent.did, "read");
    assert_eq!(granted["status"], "active", "{granted}");
    let path = format!("/v1/operators/{}", operator.id);
    let refused = signed(&world, &old, "GET", &path, None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.error_code(), Some("forbidden"));

    // The agent keeps its operator: old tokens stay active, new ones are issued.
    let answer = world
        .server
        .http()
        .post_json("/v1/introspect", &json!({ "token": before }), &[])
        .unwrap();
    assert_eq!(answer.json()["active"], true, "{}", answer.body);
    agent.token("read");

    // The old key cannot change the key back (it is no longer the operator's), and a second rotation works.
    let again = Signer::generate();
    let key_path = format!("/v1/operators/{}/key", operator.id);
    let body = json!({
        "public_key": again.public_jwk(),
        "key_change": again.key_change(&operator.id, &old, &world.server.issuer()),
    });
    let refused = signed(&world, &old, "POST", &key_path, Some(&body));
    assert_eq!(refused.status, 403, "{}", refused.body);
    let second = operator.cli.ok_json(["operator-key", "rotate"]);
    assert_eq!(
        second["previous_thumbprint"],
        new_thumbprint.as_str(),
        "{second}"
    );
}

#[test]
fn a_key_change_must_be_signed_by_the_key_it_presents_and_bind_the_current_key() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let current = operator.signer();
    let issuer = world.server.issuer();
    let path = format!("/v1/operators/{}/key", operator.id);
    let new = Signer::generate();
    let other = Signer::generate();

    // Inner message signed by another key than the one in `public_key`.
    let body = json!({
        "public_key": new.public_jwk(),
        "key_change": other.key_change(&operator.id, &current, &issuer),
    });
    let refused = signed(&world, &current, "POST", &path, Some(&body));
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.error_code(), Some("invalid_signature"));
    // Inner message binding another key as the old one.
    let body = json!({
        "public_key": new.public_jwk(),
        "key_change": new.key_change(&operator.id, &other, &issuer),
    });
    let refused = signed(&world, &current, "POST", &path, Some(&body));
    assert_eq!(
        refused.error_code(),
        Some("invalid_signature"),
        "{}",
        refused.body
    );
    // Inner message for another server.
    let body = json!({
        "public_key": new.public_jwk(),
        "key_change": new.key_change(&operator.id, &current, "https://elsewhere.example"),
    });
    let refused = signed(&world, &current, "POST", &path, Some(&body));
    assert_eq!(
        refused.error_code(),
        Some("invalid_signature"),
        "{}",
        refused.body
    );
    // The outer request signed by the new key (not yet the operator's).
    let body = json!({
        "public_key": new.public_jwk(),
        "key_change": new.key_change(&operator.id, &current, &issuer),
    });
    let refused = signed(&world, &new, "POST", &path, Some(&body));
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Nothing changed: the CLI's key still works.
    assert_eq!(operator.status()["status"], "verified");

    // The well-formed change applies once; the same body under a new outer signature is then refused.
    let accepted = signed(&world, &current, "POST", &path, Some(&body));
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let replayed = signed(&world, &current, "POST", &path, Some(&body));
    assert_eq!(replayed.status, 403, "{}", replayed.body);
    let status = signed(
        &world,
        &new,
        "GET",
        &format!("/v1/operators/{}", operator.id),
        None,
    );
    assert_eq!(status.status, 200, "{}", status.body);
}
