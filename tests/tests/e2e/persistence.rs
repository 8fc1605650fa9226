//! State lives in the database (the SQLite file, or PostgreSQL with `AUTH4AGENT_TEST_BACKEND=postgres`):
//! it survives a graceful restart (SIGTERM), a crash (SIGKILL) and a signing-key rotation.

use crate::support::{AUD, World, assert_invalid, assert_valid, str_field, strings, token_kid};

fn jwks_kids(world: &World) -> Vec<String> {
    let jwks = world
        .server
        .http()
        .get("/.well-known/jwks.json")
        .expect("GET jwks");
    jwks.json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| str_field(k, "kid"))
        .collect()
}

/// Sets up a verified operator, an active agent, one valid and one revoked token; restarts the
/// server with `restart`; checks that everything is as it was.
fn survives(restart: impl FnOnce(&mut World)) {
    let mut world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let valid = agent.token("read");
    let revoked = agent.token("write");
    agent
        .cli
        .ok_json_stdin(["revoke", "token", "--token", "-"], &revoked);
    let kids = jwks_kids(&world);
    let db = world.server.db_path();
    let database_url = world.server.database_url().map(str::to_owned);
    if database_url.is_none() {
        assert!(db.is_file(), "the database is a file: {}", db.display());
    }

    restart(&mut world);

    assert_eq!(world.server.db_path(), db);
    assert_eq!(world.server.database_url(), database_url.as_deref());
    assert_eq!(jwks_kids(&world), kids, "the signing key is persisted");
    assert_eq!(operator.status()["status"], "verified");
    let seen = operator.agent(&agent.did);
    assert_eq!(seen["status"], "active");
    assert_eq!(strings(&seen["allowed_scopes"]), ["read", "write"]);
    assert_valid(&agent.verify(&valid, &["--aud", AUD, "--online"]));
    assert_invalid(&agent.verify(&revoked, &["--online"]), "token_inactive");
    let list = operator.cli.ok_json(["revoke", "list"]);
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(1), "{list}");

    let fresh = agent.token("read");
    assert_eq!(
        token_kid(&fresh),
        token_kid(&valid),
        "same signing key after restart"
    );
    assert_valid(&agent.verify(&fresh, &["--aud", AUD, "--online"]));
}

#[test]
fn state_survives_a_graceful_restart() {
    survives(|world| {
        let status = world.server.terminate().expect("the server was running");
        assert!(
            status.success(),
            "SIGTERM is a graceful shutdown with exit 0, got {status}"
        );
        world.server.start_again();
    });
}

#[test]
fn state_survives_a_crash() {
    survives(|world| {
        world.server.kill().expect("the server was running");
        world.server.start_again();
    });
}

#[test]
fn restart_helper_keeps_port_and_database() {
    let mut world = World::new();
    let url = world.server.url();
    let (operator, _agent) = world.operator_and_agent();
    world.server.restart();
    assert_eq!(world.server.url(), url);
    assert_eq!(operator.status()["status"], "verified");
}

#[test]
fn key_rotation_keeps_old_tokens_valid() {
    let mut world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let old = agent.token("read");
    let old_kid = token_kid(&old);

    world.server.terminate();
    let rotated = world.server.admin(["keys", "rotate", "--now"]);
    assert!(rotated.status.success(), "keys rotate failed: {rotated:?}");
    world.server.start_again();

    let kids = jwks_kids(&world);
    assert_eq!(kids.len(), 2, "the retired key stays published: {kids:?}");
    assert!(kids.contains(&old_kid));

    let new = agent.token("read");
    let new_kid = token_kid(&new);
    assert_ne!(new_kid, old_kid, "new tokens are signed with the new key");
    assert!(kids.contains(&new_kid));

    // A service that fetches the JWKS accepts both.
    let service = world.cli("service");
    let url = world.server.url();
    let jwks = format!("{url}/.well-known/jwks.json");
    for jwt in [&old, &new] {
        assert_valid(&crate::support::verify(
            &service,
            jwt,
            &["--jwks", &jwks, "--iss", &url, "--aud", AUD],
        ));
        assert_valid(&agent.verify(jwt, &["--aud", AUD, "--online"]));
    }
}
