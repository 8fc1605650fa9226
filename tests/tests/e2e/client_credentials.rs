//! The OAuth client credentials flow against a real server: the CLI's `--flow client-credentials`
//! (same report as the challenge flow), and josekit (an independent Rust JOSE implementation, run
//! as the `interop/josekit` tool) verifying our access tokens and signing an assertion we accept.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use auth4agent_protocol::SigningKey;
use auth4agent_testkit::{Signer, unix_now, workspace_root};
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

/// The josekit tool (interop/josekit, its own workspace: see its Cargo.toml), built on first use.
fn josekit_tool() -> PathBuf {
    let root = workspace_root();
    let target = root.join("target").join("interop-josekit");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--quiet",
            "--manifest-path",
            "interop/josekit/Cargo.toml",
        ])
        .status()
        .expect("run cargo to build interop/josekit");
    assert!(
        status.success(),
        "building interop/josekit failed (needs OpenSSL's headers: libssl-dev)"
    );
    target.join("debug").join("auth4agent-josekit-interop")
}

fn run_tool(tool: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the josekit tool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn josekit_verifies_our_tokens_and_signs_assertions_we_accept() {
    let tool = josekit_tool();
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let issuer = world.server.url();
    let http = world.server.http();

    // Our token, verified by josekit with the key the published JWKS names.
    let token = agent.token("read");
    let jwks = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        jwks.path(),
        http.get("/.well-known/jwks.json").expect("JWKS").body,
    )
    .unwrap();
    let jwks_path = jwks.path().to_str().unwrap();
    let (ok, out, err) = run_tool(&tool, &["verify", jwks_path], &token);
    assert!(ok, "josekit refused our token: {err}");
    let verified: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(verified["typ"], "at+jwt");
    assert_eq!(verified["claims"]["sub"], agent.did.as_str());
    assert_eq!(verified["claims"]["iss"], issuer.as_str());
    let mut tampered = token.clone();
    tampered.insert(token.find('.').unwrap() + 3, 'x');
    assert!(
        !run_tool(&tool, &["verify", jwks_path], &tampered).0,
        "josekit must refuse a tampered token"
    );

    // An assertion signed by josekit with the agent key file as it is on disk.
    let key_file = agent.cli.home().join("keys").join("agent.key");
    let now = unix_now();
    let sign = |key: &Path, jti: &str| {
        let (ok, assertion, err) = run_tool(
            &tool,
            &[
                "sign-assertion",
                key.to_str().unwrap(),
                &agent.did,
                &format!("{issuer}/oauth/token"),
                &now.to_string(),
                &(now + 120).to_string(),
                jti,
            ],
            "",
        );
        assert!(ok, "josekit could not sign: {err}");
        assertion
    };
    let jti = auth4agent_protocol::b64url_encode(&rand::random::<[u8; 16]>());
    let assertion = sign(&key_file, &jti);
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

    // Signed by another key (josekit, a fresh key file): refused.
    let stranger = tempfile::NamedTempFile::new().unwrap();
    let pem = SigningKey::from_seed(&rand::random::<[u8; 32]>())
        .to_pkcs8_pem()
        .unwrap();
    std::fs::write(stranger.path(), pem.as_bytes()).unwrap();
    let forged = sign(stranger.path(), "another-jti");
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
