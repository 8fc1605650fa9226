//! Every refusal a user can meet through the CLI: scopes, audiences, issuers, time, revocation,
//! agent and operator status, and local problems with the home directory.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::{AUD, World, assert_invalid, assert_valid, str_field, strings, unix_now};

#[test]
fn scope_not_allowed() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    agent.cli.fail_with(
        ["issue", "--scope", "admin", "--aud", AUD],
        "scope_not_allowed",
    );
    // The server never narrows silently: one scope too many refuses the whole request.
    agent.cli.fail_with(
        ["issue", "--scope", "read,admin", "--aud", AUD],
        "scope_not_allowed",
    );
    // Exact strings: no prefix or wildcard matching.
    agent.cli.fail_with(
        ["issue", "--scope", "rea", "--aud", AUD],
        "scope_not_allowed",
    );
    agent.token("read");
}

#[test]
fn narrowed_scopes_apply_to_new_tokens_only() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let old = agent.token("write");
    let narrowed = operator.set_scopes(&agent.did, "read");
    assert_eq!(strings(&narrowed["allowed_scopes"]), ["read"]);
    agent.cli.fail_with(
        ["issue", "--scope", "write", "--aud", AUD],
        "scope_not_allowed",
    );
    assert_valid(&agent.verify(&old, &["--aud", AUD, "--online"]));
}

#[test]
fn agent_cannot_grant_itself_scopes() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let output = agent.cli.fail_with(
        ["agent-scopes", "set", "--scopes", "read,write,admin"],
        "no_operator_key",
    );
    assert_eq!(output.code(), Some(4), "a local problem exits 4\n{output}");
    assert_eq!(
        strings(&operator.agent(&agent.did)["allowed_scopes"]),
        ["read", "write"]
    );
    agent.cli.fail_with(
        ["issue", "--scope", "admin", "--aud", AUD],
        "scope_not_allowed",
    );
}

#[test]
fn wrong_audience() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");
    assert_invalid(
        &agent.verify(&jwt, &["--aud", "https://other.example.com"]),
        "wrong_audience",
    );
    assert_valid(&agent.verify(&jwt, &["--aud", AUD]));
}

#[test]
fn wrong_issuer_and_foreign_keys() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");
    let url = world.server.url();
    let jwks = format!("{url}/.well-known/jwks.json");
    assert_invalid(
        &agent.verify(&jwt, &["--jwks", &jwks, "--iss", "http://127.0.0.1:1"]),
        "wrong_issuer",
    );

    // Another installation's keys do not verify this server's tokens.
    let other = World::new();
    let other_jwks = format!("{}/.well-known/jwks.json", other.server.url());
    assert_invalid(
        &agent.verify(&jwt, &["--jwks", &other_jwks, "--iss", &url]),
        "unknown_kid",
    );
}

#[test]
fn tampered_token_is_refused() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");
    let signature_start = jwt.rfind('.').expect("three segments") + 1;
    let mut bytes = jwt.clone().into_bytes();
    let i = signature_start + 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).expect("ascii");
    assert_invalid(&agent.verify(&tampered, &["--aud", AUD]), "bad_signature");
    let garbage = agent.verify("not-a-token", &[]);
    assert!(!garbage.success(), "{garbage}");
}

#[test]
fn expired_token() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let issued = agent
        .cli
        .ok_json(["issue", "--scope", "read", "--aud", AUD, "--ttl", "1s"]);
    let jwt = str_field(&issued, "token");
    let exp = issued["expires_at"].as_u64().expect("expires_at");
    while unix_now() <= exp + 1 {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_invalid(
        &agent.verify(&jwt, &["--aud", AUD, "--leeway", "0"]),
        "expired",
    );
    // Within the default 60 s leeway an offline verifier still accepts it...
    assert_valid(&agent.verify(&jwt, &["--aud", AUD]));
    // ...but the server's introspection uses no leeway.
    assert_invalid(
        &agent.verify(&jwt, &["--aud", AUD, "--online"]),
        "token_inactive",
    );
}

#[test]
fn token_lifetime_over_the_server_maximum_is_refused() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD, "--ttl", "2h"],
        "invalid_ttl",
    );
    let issued = agent
        .cli
        .ok_json(["issue", "--scope", "read", "--aud", AUD, "--ttl", "1h"]);
    let claims = assert_valid(&agent.verify(&str_field(&issued, "token"), &[]));
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        3600
    );
}

#[test]
fn revoked_token_is_inactive_online() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();

    // The agent revokes its own token.
    let own = agent.token("read");
    let revoked = agent
        .cli
        .ok_json_stdin(["revoke", "token", "--token", "-"], &own);
    assert_eq!(revoked["revoked"], true, "{revoked}");
    let jti = str_field(&revoked, "jti");
    assert_invalid(
        &agent.verify(&own, &["--aud", AUD, "--online"]),
        "token_inactive",
    );
    // Offline verification cannot know: it still passes (the reason tokens are short-lived).
    assert_valid(&agent.verify(&own, &["--aud", AUD]));
    // Idempotent.
    assert_eq!(
        agent
            .cli
            .ok_json_stdin(["revoke", "token", "--token", "-"], &own)["jti"],
        jti.as_str()
    );

    // The operator revokes another token of its agent.
    let other = agent.token("write");
    assert_valid(&agent.verify(&other, &["--online"]));
    assert_eq!(
        operator
            .cli
            .ok_json_stdin(["revoke", "token", "--token", "-"], &other)["revoked"],
        true
    );
    assert_invalid(&agent.verify(&other, &["--online"]), "token_inactive");

    let list = operator.cli.ok_json(["revoke", "list"]);
    let listed: Vec<&str> = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["jti"].as_str())
        .collect();
    assert_eq!(listed.len(), 2, "{list}");
    assert!(listed.contains(&jti.as_str()), "{list}");
    for entry in list["tokens"].as_array().expect("tokens") {
        assert_eq!(entry["did"], agent.did.as_str());
    }

    // A fresh token is unaffected.
    assert_valid(&agent.verify(&agent.token("read"), &["--online"]));
}

#[test]
fn others_cannot_revoke_a_token() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");
    // Another agent of the same operator: the CLI refuses locally (an agent revokes only its own).
    let intruder = world.active_agent("intruder", &operator, "read");
    intruder
        .cli
        .fail_with_stdin(["revoke", "token", "--token", "-"], &jwt, "no_operator_key");
    // Another operator: the server refuses the signature.
    let stranger = world.verified_operator("stranger", "stranger.example.net");
    stranger
        .cli
        .fail_with_stdin(["revoke", "token", "--token", "-"], &jwt, "forbidden");
    assert_valid(&agent.verify(&jwt, &["--online"]));
}

#[test]
fn suspended_agent() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");

    let suspended = operator
        .cli
        .ok_json(["revoke", "suspend", "--did", &agent.did]);
    assert_eq!(suspended["status"], "suspended", "{suspended}");
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "agent_not_active",
    );
    assert_invalid(&agent.verify(&jwt, &["--online"]), "token_inactive");
    // Offline, the status list says so (a fresh list: this home has none cached); without it, only the
    // signature and times are checked.
    assert_invalid(&agent.verify(&jwt, &[]), "agent_suspended");
    assert_valid(&agent.verify(&jwt, &["--no-status"]));
    // Scopes may still be changed while suspended; the agent stays suspended.
    assert_eq!(
        operator.set_scopes(&agent.did, "read")["status"],
        "suspended"
    );

    let reactivated = operator
        .cli
        .ok_json(["revoke", "reactivate", "--did", &agent.did]);
    assert_eq!(reactivated["status"], "active", "{reactivated}");
    // A token issued before the suspension never comes back (spec §13.1); new ones are issued.
    assert_invalid(&agent.verify(&jwt, &["--online"]), "token_inactive");
    agent.token("read");
}

#[test]
fn revoked_agent_is_revoked_for_good() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");

    let revoked = operator
        .cli
        .ok_json(["revoke", "agent", "--did", &agent.did]);
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "agent_not_active",
    );
    assert_invalid(&agent.verify(&jwt, &["--online"]), "token_inactive");
    operator.cli.fail_with(
        ["revoke", "reactivate", "--did", &agent.did],
        "agent_revoked",
    );
    operator.cli.fail_with(
        [
            "agent-scopes",
            "set",
            "--scopes",
            "read",
            "--did",
            &agent.did,
        ],
        "agent_revoked",
    );
    // Its key cannot come back as a new registration.
    agent.cli.fail_with(
        ["register", "agent", "--operator-id", &operator.id],
        "agent_exists",
    );

    let list = operator.cli.ok_json(["revoke", "list"]);
    let dids: Vec<&str> = list["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["did"].as_str())
        .collect();
    assert_eq!(dids, [agent.did.as_str()], "{list}");
}

#[test]
fn pending_agent_cannot_be_suspended_or_get_tokens() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.registered_agent("agent", &operator);
    operator.cli.fail_with(
        ["revoke", "suspend", "--did", &agent.did],
        "agent_not_active",
    );
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "agent_not_active",
    );
}

#[test]
fn operator_of_another_domain_cannot_manage_the_agent() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let stranger = world.verified_operator("stranger", "stranger.example.net");
    stranger.cli.fail_with(
        [
            "agent-scopes",
            "set",
            "--scopes",
            "admin",
            "--did",
            &agent.did,
        ],
        "forbidden",
    );
    stranger
        .cli
        .fail_with(["revoke", "agent", "--did", &agent.did], "forbidden");
    agent.token("read");
}

#[test]
fn unverified_operator_grants_nothing() {
    let world = World::new();
    let operator = world.registered_operator("operator", "example.com");
    let agent = world.registered_agent("agent", &operator);
    operator.cli.fail_with(
        [
            "agent-scopes",
            "set",
            "--scopes",
            "read",
            "--did",
            &agent.did,
        ],
        "operator_not_verified",
    );
    assert_eq!(operator.agent(&agent.did)["status"], "pending");
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "agent_not_active",
    );
}

#[test]
fn lapsed_operator() {
    let world = World::with(|server| {
        server.args(["--verification-lifetime", "2", "--reverify-interval", "1h"])
    });
    let (operator, agent) = world.operator_and_agent();
    let jwt = agent.token("read");
    let status = operator.status();
    let expires = status["verification_expires_at"]
        .as_u64()
        .expect("verification_expires_at");
    assert_eq!(
        expires
            - status["domain_verified_at"]
                .as_u64()
                .expect("domain_verified_at"),
        2
    );
    while unix_now() <= expires {
        std::thread::sleep(Duration::from_millis(200));
    }

    assert_eq!(
        operator.status()["status"],
        "unverified",
        "the verification lapsed"
    );
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "operator_not_verified",
    );
    operator.cli.fail_with(
        [
            "agent-scopes",
            "set",
            "--scopes",
            "read",
            "--did",
            &agent.did,
        ],
        "operator_not_verified",
    );
    assert_invalid(&agent.verify(&jwt, &["--online"]), "token_inactive");
    // Restricting stays possible while lapsed.
    assert_eq!(
        operator
            .cli
            .ok_json(["revoke", "suspend", "--did", &agent.did])["status"],
        "suspended"
    );
    operator.cli.fail_with(
        ["revoke", "reactivate", "--did", &agent.did],
        "operator_not_verified",
    );

    // Verifying again (the record is still published) restores the operator.
    assert_eq!(
        operator.cli.ok_json(["verify-operator", "confirm"])["status"],
        "verified"
    );
    assert_eq!(
        operator
            .cli
            .ok_json(["revoke", "reactivate", "--did", &agent.did])["status"],
        "active"
    );
    agent.token("read");
}

#[test]
fn background_reverification_renews_and_withdraws() {
    let world = World::with(|server| {
        server.args(["--verification-lifetime", "3", "--reverify-interval", "1"])
    });
    let (operator, agent) = world.operator_and_agent();
    let first = operator.status()["verification_expires_at"]
        .as_u64()
        .expect("verification_expires_at");

    // With the record in place the server renews the verification by itself.
    let renewed = poll(Duration::from_secs(15), || {
        let status = operator.status();
        (status["verification_expires_at"].as_u64().unwrap_or(0) > first).then_some(status)
    });
    assert_eq!(renewed["status"], "verified", "{renewed}");
    agent.token("read");

    // Once the record is withdrawn, the next background check unverifies the operator.
    world.dns.remove(&operator.txt_name);
    let withdrawn = poll(Duration::from_secs(15), || {
        let status = operator.status();
        (status["status"] == "unverified").then_some(status)
    });
    assert!(withdrawn["domain_verified_at"].is_null(), "{withdrawn}");
    agent.cli.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "operator_not_verified",
    );
}

/// Calls `check` every 300 ms until it returns `Some`, or panics after `limit`.
fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn public_suffix_domain_is_refused() {
    let world = World::new();
    let operator = world.cli("operator");
    operator.init_operator("co.uk");
    operator.fail_with(["register", "operator"], "public_suffix_domain");
}

#[test]
fn home_without_identity() {
    let world = World::new();
    let empty = world.cli("empty");
    // Each refusal names the missing identity or key (`no_<role>_identity` / `no_<role>_key`).
    for (args, role) in [
        (&["issue", "--scope", "read", "--aud", AUD][..], "agent"),
        (
            &[
                "register",
                "agent",
                "--operator-id",
                "op_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            ][..],
            "agent",
        ),
        (&["register", "operator"][..], "operator"),
        (&["verify-operator", "instructions"][..], "operator"),
        (&["verify-operator", "confirm"][..], "operator"),
        (
            &[
                "agent-scopes",
                "set",
                "--scopes",
                "read",
                "--did",
                "did:agent:example.com:00000000000000000000000000000000",
            ][..],
            "operator",
        ),
        (&["revoke", "list"][..], "operator"),
    ] {
        let output = empty.fail(args);
        assert_eq!(
            output.code(),
            Some(4),
            "a missing identity is a local problem (exit 4)\n{output}"
        );
        let code = output.error_code().unwrap_or_default();
        assert!(
            [format!("no_{role}_identity"), format!("no_{role}_key")]
                .iter()
                .any(|c| c == code),
            "expected no_{role}_identity or no_{role}_key\n{output}"
        );
        assert!(
            output.stderr.contains("hint"),
            "errors say what to do next\n{output}"
        );
    }
    assert!(
        !empty.home().join("keys").exists(),
        "a refused command creates no key"
    );
}

#[test]
fn loose_key_permissions_are_refused() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let key = agent.cli.home().join("keys").join("agent.key");
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let output = agent.cli.fail_with(
            ["issue", "--scope", "read", "--aud", AUD],
            "key_permissions_too_open",
        );
        assert_eq!(output.code(), Some(4), "{output}");
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    agent.token("read");
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    agent.cli.fail_with(
        [
            "init",
            "--domain",
            "example.com",
            "--server",
            &world.server.url(),
        ],
        "identity_exists",
    );
    operator.cli.fail_with(
        [
            "init",
            "--operator",
            "--domain",
            "example.com",
            "--server",
            &world.server.url(),
        ],
        "identity_exists",
    );
    // The identities were not touched.
    agent.token("read");
    let forced = agent.cli.ok_json([
        "init",
        "--domain",
        "example.com",
        "--server",
        &world.server.url(),
        "--force",
    ]);
    assert_ne!(forced["did"], agent.did.as_str(), "a new key, a new DID");
}
