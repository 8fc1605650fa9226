//! The whole quick start through the real CLI and server, step by step, plus what a service
//! sees (JWKS, discovery, offline and online verification).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{AUD, World, assert_valid, str_field, strings, unix_now, verify};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn quick_start() {
    let world = World::new();
    let url = world.server.url();

    // 1. init --operator: a key on disk, private to its owner.
    let operator = world.cli("operator");
    let init = operator.init_operator("example.com");
    assert_eq!(init["domain"], "example.com", "{init}");
    assert!(operator.home().join("operator.json").is_file());
    assert_eq!(
        mode(&operator.home().join("keys").join("operator.key")),
        0o600
    );
    assert_eq!(mode(&operator.home().join("keys")), 0o700);
    assert_eq!(mode(operator.home()), 0o700);
    let pem = std::fs::read_to_string(operator.home().join("keys").join("operator.key"))
        .expect("key file");
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8 PEM expected"
    );

    // 2. register operator.
    let registered = operator.ok_json(["register", "operator"]);
    let id = str_field(&registered, "id");
    assert!(id.starts_with("op_") && id.len() == 29, "{id}");
    assert_eq!(registered["domain"], "example.com");
    assert_eq!(registered["status"], "unverified");
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(operator.home().join("operator.json")).expect("operator.json"),
    )
    .expect("operator.json is JSON");
    assert_eq!(
        saved["id"],
        id.as_str(),
        "the id is saved to operator.json: {saved}"
    );

    // 3. verify-operator instructions.
    let instructions = operator.ok_json(["verify-operator", "instructions"]);
    assert_eq!(instructions["domain"], "example.com");
    assert_eq!(instructions["txt_record_name"], "_auth4agent.example.com");
    let value = str_field(&instructions, "txt_record_value");
    let token = value
        .strip_prefix("auth4agent-verification=")
        .expect("value prefix");
    assert!(is_lower_hex(token, 32), "{value}");

    // Not published yet: refused, still unverified.
    operator.fail_with(["verify-operator", "confirm"], "dns_record_not_found");
    assert_eq!(
        operator.ok_json(["verify-operator", "status"])["status"],
        "unverified"
    );

    // 4. publish the TXT record, 5. confirm.
    world.dns.add_txt("_auth4agent.example.com", value.as_str());
    let confirmed = operator.ok_json(["verify-operator", "confirm"]);
    assert_eq!(confirmed["status"], "verified", "{confirmed}");
    assert_eq!(confirmed["id"], id.as_str());
    let verified_at = confirmed["domain_verified_at"]
        .as_u64()
        .expect("domain_verified_at");
    let expires_at = confirmed["verification_expires_at"]
        .as_u64()
        .expect("verification_expires_at");
    assert!(verified_at.abs_diff(unix_now()) < 120);
    assert_eq!(
        expires_at - verified_at,
        30 * 86_400,
        "default validity: 30 days"
    );
    let status = operator.ok_json(["verify-operator", "status"]);
    assert_eq!(status["status"], "verified", "{status}");
    assert!(
        world.dns.query_count("_auth4agent.example.com") >= 2,
        "the server asked the DNS each time"
    );

    // 6. init (agent): a DID and its DID document.
    let agent = world.cli("agent");
    let init = agent.init_agent("example.com");
    let did = str_field(&init, "did");
    let fingerprint = did
        .strip_prefix("did:agent:example.com:")
        .expect("DID prefix");
    assert!(is_lower_hex(fingerprint, 32), "{did}");
    assert_eq!(init["did_document"]["id"], did.as_str(), "{init}");
    assert_eq!(mode(&agent.home().join("keys").join("agent.key")), 0o600);
    let thumbprint = str_field(&init, "thumbprint");

    // 7. register agent: pending, and no token while pending.
    let registered = agent.ok_json(["register", "agent", "--operator-id", &id]);
    assert_eq!(registered["did"], did.as_str());
    assert_eq!(registered["status"], "pending");
    agent.fail_with(
        ["issue", "--scope", "read", "--aud", AUD],
        "agent_not_active",
    );

    // 8. agent-scopes set (operator key): active, scopes sorted.
    let scoped = operator.ok_json([
        "agent-scopes",
        "set",
        "--scopes",
        "write,read",
        "--did",
        &did,
    ]);
    assert_eq!(scoped["status"], "active", "{scoped}");
    assert_eq!(strings(&scoped["allowed_scopes"]), ["read", "write"]);
    let own_view = agent.ok_json(["agent-scopes", "list"]);
    assert_eq!(own_view["did"], did.as_str());
    assert_eq!(strings(&own_view["allowed_scopes"]), ["read", "write"]);

    // 9. issue.
    let issued = agent.ok_json(["issue", "--scope", "read", "--aud", AUD]);
    let jwt = str_field(&issued, "token");
    assert_eq!(jwt.split('.').count(), 3, "compact JWS");
    assert_eq!(issued["scope"], "read");
    assert_eq!(issued["aud"], AUD);
    let token_expires = issued["expires_at"].as_u64().expect("expires_at");
    assert!(
        agent.home().join("jwks.json").is_file(),
        "issue refreshes the cached JWKS"
    );

    // 10. verify, offline, by the agent's home.
    let claims = assert_valid(&verify(&agent, &jwt, &["--aud", AUD]));
    assert_eq!(claims["iss"], url.as_str());
    assert_eq!(claims["sub"], did.as_str());
    assert_eq!(claims["client_id"], did.as_str());
    assert_eq!(claims["aud"], AUD);
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["exp"].as_u64(), Some(token_expires));
    let iat = claims["iat"].as_u64().expect("iat");
    assert_eq!(token_expires - iat, 900, "default token lifetime");
    assert!(!str_field(&claims, "jti").is_empty());
    assert_eq!(
        claims["cnf"]["jkt"],
        thumbprint.as_str(),
        "cnf.jkt is the agent key thumbprint"
    );

    // Online too.
    assert_valid(&verify(&agent, &jwt, &["--aud", AUD, "--online"]));

    // A service with no identity at all verifies offline from the JWKS URL and the issuer.
    let service = world.cli("service");
    let jwks_url = format!("{url}/.well-known/jwks.json");
    let claims = assert_valid(&verify(
        &service,
        &jwt,
        &["--jwks", &jwks_url, "--iss", &url, "--aud", AUD],
    ));
    assert_eq!(claims["sub"], did.as_str());
}

#[test]
fn one_home_holds_operator_and_agent() {
    let world = World::new();
    let home = world.cli("both");
    home.init_operator("both.example.org");
    let id = str_field(&home.ok_json(["register", "operator"]), "id");
    let instructions = home.ok_json(["verify-operator", "instructions"]);
    world.dns.add_txt(
        &str_field(&instructions, "txt_record_name"),
        str_field(&instructions, "txt_record_value"),
    );
    assert_eq!(
        home.ok_json(["verify-operator", "confirm"])["status"],
        "verified"
    );

    let did = str_field(&home.init_agent("both.example.org"), "did");
    // --operator-id defaults to the operator of this home; --did to the agent of this home.
    let registered = home.ok_json(["register", "agent"]);
    assert_eq!(registered["did"], did.as_str());
    assert_eq!(
        home.ok_json(["agent-scopes", "set", "--scopes", "read"])["status"],
        "active"
    );

    let whoami = home.ok_json(["whoami"]);
    assert_eq!(whoami["operator"]["id"], id.as_str(), "{whoami}");
    assert_eq!(whoami["agent"]["did"], did.as_str(), "{whoami}");

    let jwt = str_field(
        &home.ok_json(["issue", "--scope", "read", "--aud", AUD]),
        "token",
    );
    let claims = assert_valid(&verify(&home, &jwt, &["--aud", AUD, "--online"]));
    assert_eq!(claims["sub"], did.as_str());
}

#[test]
fn token_from_a_file_and_custom_ttl() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let issued = agent.cli.ok_json([
        "issue",
        "--scope",
        "read,write",
        "--aud",
        AUD,
        "--ttl",
        "2m",
    ]);
    assert_eq!(issued["scope"], "read write", "canonical scope order");
    let jwt = str_field(&issued, "token");
    let file = agent.cli.home().join("token.jwt");
    std::fs::write(&file, format!("{jwt}\n")).expect("write the token file");

    let output = agent.cli.run([
        "verify",
        "--token",
        file.to_str().expect("utf-8 path"),
        "--aud",
        AUD,
    ]);
    let claims = assert_valid(&output);
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        120
    );
}

#[test]
fn server_endpoints_for_services() {
    let world = World::new();
    let url = world.server.url();
    let http = world.server.http();

    let health = http.get("/health").expect("GET /health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert!(
        health.json()["timestamp"]
            .as_u64()
            .expect("timestamp")
            .abs_diff(unix_now())
            < 120
    );
    let ready = http.get("/ready").expect("GET /ready");
    assert_eq!(
        (ready.status, ready.json()["status"].clone()),
        (200, json!("ready"))
    );

    let jwks = http.get("/.well-known/jwks.json").expect("GET jwks");
    assert_eq!(jwks.status, 200);
    let cache = jwks.header("cache-control").expect("Cache-Control");
    assert!(cache.contains("max-age=300"), "{cache}");
    let keys = jwks.json()["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 1, "one signing key: {keys:?}");
    for (name, expected) in [
        ("kty", "OKP"),
        ("crv", "Ed25519"),
        ("alg", "EdDSA"),
        ("use", "sig"),
    ] {
        assert_eq!(keys[0][name], expected, "{name}");
    }
    assert!(keys[0].get("d").is_none(), "no private part in the JWKS");

    let discovery = http
        .get("/.well-known/auth4agent-configuration")
        .expect("GET discovery");
    assert_eq!(discovery.status, 200);
    let doc = discovery.json();
    assert_eq!(doc["issuer"], url.as_str());
    assert_eq!(doc["jwks_uri"], format!("{url}/.well-known/jwks.json"));
    assert_eq!(doc["endpoints"]["token"], format!("{url}/v1/token"));
    assert_eq!(doc["signing_alg_values_supported"], json!(["EdDSA"]));

    let missing = http.get("/no/such/path").expect("GET unknown");
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, Some("not_found"))
    );

    // The CLI's view of the same server.
    let (_operator, agent) = world.operator_and_agent();
    let health = agent.cli.ok_json(["health"]);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["ready"], true, "{health}");
    let cached = agent.cli.ok_json(["jwks"]);
    assert_eq!(cached["keys"][0]["kid"], keys[0]["kid"]);
    assert!(agent.cli.home().join("jwks.json").is_file());

    // Introspection of an issued token, straight over HTTP.
    let jwt = agent.token("read");
    let introspected = http
        .post_json("/v1/introspect", &json!({ "token": jwt }), &[])
        .expect("introspect");
    assert_eq!(introspected.status, 200);
    let doc = introspected.json();
    assert_eq!(doc["active"], true, "{doc}");
    assert_eq!(doc["sub"], agent.did.as_str());
    assert_eq!(doc["agent_status"], "active");
    assert_eq!(doc["operator_status"], "verified");
    let garbage = http
        .post_json("/v1/introspect", &json!({ "token": "not.a.token" }), &[])
        .expect("introspect");
    assert_eq!(garbage.json(), &json!({ "active": false }));
}

#[test]
fn human_output_is_plain_text() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let output = agent.cli.human().run(["whoami"]);
    assert!(output.success(), "{output}");
    assert!(output.json.is_none(), "no JSON without --json\n{output}");
    assert!(output.stdout.contains(&agent.did), "{output}");
    assert!(
        !output.text().contains('\u{1b}'),
        "NO_COLOR: no escape sequences\n{output}"
    );
}
