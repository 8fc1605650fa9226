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

/// Recovery over DNS (issue 17 §6): the operator's key is lost; a fresh home starts a recovery with a
/// new key, which can do nothing else; a failed DNS check changes nothing; once the new TXT value is
/// published the new key is the operator's, the old key is refused, and the operator keeps its agents.
#[test]
fn operator_key_recover_takes_the_operator_over_with_a_new_key_proven_over_dns() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let old = operator.signer();
    let before = agent.token("read");
    let server = world.server.url();

    // A new machine: no identity, only the operator id and the server.
    let fresh = world.cli("recovered");
    let started = fresh.ok_json([
        "--server",
        &server,
        "operator-key",
        "recover",
        "start",
        "--operator-id",
        &operator.id,
    ]);
    assert_eq!(started["domain"], "example.com", "{started}");
    assert_eq!(
        started["txt_record_name"],
        operator.txt_name.as_str(),
        "{started}"
    );
    let new_value = str_field(&started, "txt_record_value");
    assert_ne!(new_value, operator.txt_value, "a TXT value of its own");
    let pending = fresh.home().join("keys").join("operator.key.new");
    let mode = std::fs::metadata(&pending).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let new = Signer::from_pem_file(&pending);
    // Starting again reuses the key and keeps the value.
    let again = fresh.ok_json([
        "--server",
        &server,
        "operator-key",
        "recover",
        "start",
        "--operator-id",
        &operator.id,
    ]);
    assert_eq!(again["txt_record_value"], new_value.as_str());

    // Until the proof passes the new key can do nothing else, and the old key still works.
    let status_path = format!("/v1/operators/{}", operator.id);
    let refused = signed(&world, &new, "GET", &status_path, None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = signed(
        &world,
        &new,
        "PUT",
        &format!("/v1/agents/{}/scopes", agent.did),
        Some(&json!({ "allowed_scopes": ["read", "write"] })),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Only the old value is published: the check fails, and nothing changes.
    let failed = fresh.run([
        "--server",
        &server,
        "operator-key",
        "recover",
        "confirm",
        "--operator-id",
        &operator.id,
    ]);
    assert!(!failed.success(), "{failed}");
    assert_eq!(failed.error_code(), Some("dns_record_mismatch"), "{failed}");
    assert_eq!(operator.status()["status"], "verified");
    assert!(
        pending.exists(),
        "the recovery key is kept for the next attempt"
    );

    // The new value is published (next to the old one): the recovery passes.
    world.dns.set_txt(
        &operator.txt_name,
        vec![
            auth4agent_testkit::TxtRecord::from(operator.txt_value.as_str()),
            auth4agent_testkit::TxtRecord::from(new_value.as_str()),
        ],
    );
    let recovered = fresh.ok_json([
        "--server",
        &server,
        "operator-key",
        "recover",
        "confirm",
        "--operator-id",
        &operator.id,
    ]);
    assert_eq!(recovered["id"], operator.id.as_str(), "{recovered}");
    assert_eq!(recovered["status"], "verified", "{recovered}");
    assert!(!pending.exists());
    let identity: Value =
        serde_json::from_str(&std::fs::read_to_string(fresh.home().join("operator.json")).unwrap())
            .unwrap();
    assert_eq!(identity["id"], operator.id.as_str());
    assert_eq!(identity["thumbprint"], new.thumbprint().as_str());

    // The old key is refused from now on, the new home acts for the operator and keeps its agents.
    let refused = signed(&world, &old, "GET", &status_path, None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let old_cli = operator.cli.run(["verify-operator", "status"]);
    assert!(!old_cli.success(), "{old_cli}");
    assert_eq!(
        fresh.ok_json(["verify-operator", "status"])["status"],
        "verified"
    );
    let granted = fresh.ok_json([
        "agent-scopes",
        "set",
        "--scopes",
        "read",
        "--did",
        &agent.did,
    ]);
    assert_eq!(granted["status"], "active", "{granted}");
    agent.token("read");
    let answer = world
        .server
        .http()
        .post_json("/v1/introspect", &json!({ "token": before }), &[])
        .unwrap();
    assert_eq!(answer.json()["active"], true, "{}", answer.body);
    // The recovery is spent: confirming it again is refused.
    let body = json!({ "public_key": new.public_jwk() });
    let spent = signed(
        &world,
        &new,
        "POST",
        &format!("/v1/operators/{}/recovery/confirm", operator.id),
        Some(&body),
    );
    assert_eq!(spent.status, 403, "{}", spent.body);
}
