//! `auth4agent login` end to end: a real server, the real CLI on both sides. The agent's `login` generates its
//! key, registers asking for scopes and waits; the registration shows in the operator's `approvals list` (kind
//! `registration`, with the agent's name), and `approvals approve` (narrowed) makes the agent active with the
//! approved scopes, `approvals deny` or an expiry leave it revoked. The old path (`register agent`, then
//! `agent-scopes set`) keeps working and never enters the queue.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use auth4agent_e2e::{Cli, CliOutput};
use serde_json::{Value, json};

use crate::support::{AUD, Operator, World, assert_shows_approval, str_field};
use crate::verifier_service::Service;

/// Starts `login --server URL --domain example.com ARGS…` in home `name`, in the background.
fn login_in_background(
    world: &World,
    name: &str,
    args: &[&str],
) -> (Cli, std::thread::JoinHandle<CliOutput>) {
    let cli = world.cli(name);
    let mut argv = vec![
        "login".to_owned(),
        "--server".to_owned(),
        world.server.url(),
        "--domain".to_owned(),
        "example.com".to_owned(),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let running = cli.clone();
    (cli, std::thread::spawn(move || running.run(argv)))
}

/// The operator's one pending request, waiting up to 30 s for it.
fn wait_for_request(operator: &Operator) -> Value {
    let listed = operator.cli.ok_json(["approvals", "list", "--wait", "30s"]);
    let approvals = listed["approvals"].as_array().expect("approvals").clone();
    assert_eq!(approvals.len(), 1, "{listed}");
    approvals[0].clone()
}

/// The agent's DID from its home (saved by `login` once the server took the registration).
fn did_in(cli: &Cli) -> String {
    let text = std::fs::read_to_string(cli.home().join("agent.json")).expect("agent.json");
    let identity: Value = serde_json::from_str(&text).unwrap();
    str_field(&identity, "did")
}

#[test]
fn login_is_approved_with_fewer_scopes_through_the_operators_cli() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let (agent, running) = login_in_background(
        &world,
        "agent",
        &[
            "--scopes",
            "read,write,admin",
            "--name",
            "build bot",
            "--wait",
            "60s",
        ],
    );
    let request = wait_for_request(&operator);
    assert_eq!(request["kind"], "registration", "{request}");
    assert_eq!(request["name"], "build bot", "{request}");
    assert_eq!(
        request["scopes"],
        json!(["admin", "read", "write"]),
        "{request}"
    );
    assert_eq!(request["resource"], "", "{request}");
    let did = str_field(&request, "did");
    assert!(did.starts_with("did:agent:example.com:"), "{did}");
    let code = str_field(&request, "user_code");
    // The human listing says what it is, with the name and the time in RFC 3339.
    let human = operator.cli.human().run(["approvals", "list"]);
    assert!(
        human.stdout.contains(&code)
            && human
                .stdout
                .contains("registration of a new agent named \"build bot\"")
            && human.stdout.contains("Z, in "),
        "{}",
        human.stdout
    );
    // The pending agent cannot get a token yet.
    assert_eq!(operator.agent(&did)["status"], "pending");

    // remember means nothing for a registration: refused, and the request stays pending.
    operator
        .cli
        .fail(["approvals", "approve", &code, "--remember", "1h"])
        .assert_error("invalid_request");
    let decision = operator
        .cli
        .ok_json(["approvals", "approve", &code, "--scopes", "read,write"]);
    assert_eq!(decision["status"], "approved", "{decision}");
    assert_eq!(decision["agent_status"], "active", "{decision}");
    assert_eq!(decision["scopes"], json!(["read", "write"]), "{decision}");

    let out = running.join().unwrap();
    assert!(out.success(), "{out:?}");
    assert_shows_approval(&out.stderr, &code);
    let answer = out.json();
    assert_eq!(answer["did"], did.as_str(), "{answer}");
    assert_eq!(answer["status"], "active", "{answer}");
    assert_eq!(
        answer["allowed_scopes"],
        json!(["read", "write"]),
        "{answer}"
    );
    assert_eq!(answer["registration"]["status"], "approved", "{answer}");
    assert_eq!(
        answer["registration"]["requested_scopes"],
        json!(["admin", "read", "write"])
    );

    // The key is private to its owner; the identity names the agent and its operator.
    let key = agent.home().join("keys").join("agent.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", key.display());
    assert_eq!(did_in(&agent), did);
    let seen = operator.agent(&did);
    assert_eq!(seen["status"], "active", "{seen}");
    assert_eq!(seen["allowed_scopes"], json!(["read", "write"]), "{seen}");
    assert_eq!(seen["approval_scopes"], json!([]), "{seen}");

    // The agent works: an approved scope is issued, the one left out is not.
    let token = agent.ok_json(["issue", "--scope", "read", "--aud", AUD]);
    assert_eq!(token["scope"], "read", "{token}");
    agent
        .fail(["issue", "--scope", "admin", "--aud", AUD])
        .assert_error("scope_not_allowed");
    // The queue is empty again, and the decision cannot be repeated.
    let listed = operator.cli.ok_json(["approvals", "list"]);
    assert_eq!(listed["approvals"], json!([]), "{listed}");
    operator
        .cli
        .fail(["approvals", "deny", &code])
        .assert_error("approval_decided");
    // A second login over this identity is refused without --force.
    let again = agent.fail([
        "login",
        "--server",
        &world.server.url(),
        "--domain",
        "example.com",
        "--scopes",
        "read",
    ]);
    again.assert_error("identity_exists");
}

#[test]
fn a_denied_login_fails_with_its_own_error_and_leaves_the_agent_revoked() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let (agent, running) =
        login_in_background(&world, "agent", &["--scopes", "read", "--wait", "60s"]);
    let request = wait_for_request(&operator);
    let code = str_field(&request, "user_code");
    assert_eq!(request["name"], Value::Null, "{request}");
    let decision = operator.cli.ok_json(["approvals", "deny", &code]);
    assert_eq!(decision["status"], "denied", "{decision}");
    assert_eq!(decision["agent_status"], "revoked", "{decision}");

    let out = running.join().unwrap();
    out.assert_error("registration_denied");
    assert_eq!(out.code(), Some(1), "{out:?}");
    let did = did_in(&agent);
    let seen = operator.agent(&did);
    assert_eq!(seen["status"], "revoked", "{seen}");
    assert_eq!(seen["registration"]["status"], "denied", "{seen}");
    agent
        .fail(["issue", "--scope", "read", "--aud", AUD])
        .assert_error("agent_not_active");
    // Revoked for good: setting scopes through the old path is refused too.
    operator
        .cli
        .fail(["agent-scopes", "set", "--did", &did, "--scopes", "read"])
        .assert_error("agent_revoked");
}

#[test]
fn an_unanswered_login_expires_and_wait_bounds_it() {
    let world = World::with(|b| b.args(["--device-code-ttl", "3s"]));
    let operator = world.verified_operator("operator", "example.com");

    // --wait shorter than the request's life: the CLI gives up, the agent stays pending for now.
    let started = Instant::now();
    let (short, running) =
        login_in_background(&world, "short", &["--scopes", "read", "--wait", "1s"]);
    let out = running.join().unwrap();
    out.assert_error("approval_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let short_did = did_in(&short);
    assert_eq!(operator.agent(&short_did)["status"], "pending");

    // Waiting past the expiry: the request expires and the agent is revoked.
    let (agent, running) =
        login_in_background(&world, "agent", &["--scopes", "read", "--wait", "30s"]);
    let out = running.join().unwrap();
    out.assert_error("registration_expired");
    assert_eq!(out.code(), Some(1), "{out:?}");
    let seen = operator.agent(&did_in(&agent));
    assert_eq!(seen["status"], "revoked", "{seen}");
    assert_eq!(seen["registration"]["status"], "expired", "{seen}");
    // The first agent's request has expired as well by now: reading it settles it.
    let seen = operator.agent(&short_did);
    assert_eq!(seen["status"], "revoked", "{seen}");
    // Nothing is left in the queue.
    let listed = operator.cli.ok_json(["approvals", "list"]);
    assert_eq!(listed["approvals"], json!([]), "{listed}");
}

/// Without `--scopes` the agent asks for none: the operator names them when approving, with nothing to narrow.
#[test]
fn a_login_asking_for_no_scopes_gets_those_the_operator_names() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let (agent, running) = login_in_background(&world, "agent", &["--wait", "60s"]);
    let request = wait_for_request(&operator);
    assert_eq!(request["kind"], "registration", "{request}");
    assert_eq!(request["scopes"], json!([]), "{request}");
    let code = str_field(&request, "user_code");
    let decision = operator
        .cli
        .ok_json(["approvals", "approve", &code, "--scopes", "read,deploy"]);
    assert_eq!(decision["agent_status"], "active", "{decision}");
    let out = running.join().unwrap();
    assert!(out.success(), "{out:?}");
    assert!(
        out.stderr.contains("asking for no scopes"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["allowed_scopes"], json!(["deploy", "read"]));
    let token = agent.ok_json(["issue", "--scope", "deploy", "--aud", AUD]);
    assert_eq!(token["scope"], "deploy", "{token}");
}

#[test]
fn the_old_path_still_works_and_never_enters_the_queue() {
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.registered_agent("agent", &operator);
    let listed = operator.cli.ok_json(["approvals", "list"]);
    assert_eq!(listed["approvals"], json!([]), "{listed}");
    let seen = operator.agent(&agent.did);
    assert_eq!(seen["status"], "pending", "{seen}");
    assert!(seen.get("registration").is_none(), "{seen}");
    let set = operator.set_scopes(&agent.did, "read");
    assert_eq!(set["status"], "active", "{set}");
    assert_eq!(agent.issue("read", AUD)["scope"], "read");

    // login with a domain no operator has proven is refused by the server, with nothing left pending.
    let stranger = world.cli("stranger");
    stranger
        .fail([
            "login",
            "--server",
            &world.server.url(),
            "--domain",
            "unproven.example",
            "--scopes",
            "read",
        ])
        .assert_error("operator_not_found");
    assert!(!stranger.home().join("agent.json").exists());
    // login checks the server's issuer first, as every command does.
    let wrong = world.cli("wrong").with_issuer("https://other.example");
    wrong
        .fail([
            "login",
            "--server",
            &world.server.url(),
            "--domain",
            "example.com",
            "--scopes",
            "read",
        ])
        .assert_error("issuer_mismatch");
    assert!(!wrong.home().join("agent.json").exists());
}

/// `status` in a home that logged in: the agent as the server sees it (status, allowed and approval scopes,
/// the registration), the server answering, the cached token of a `request` with its expiry; the operator's
/// verification in its home; and a server that does not answer is reported, with the local part still shown.
#[test]
fn status_shows_the_agent_and_operator_as_the_server_sees_them_and_the_cached_tokens() {
    let mut world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let (agent, running) = login_in_background(
        &world,
        "agent",
        &["--scopes", "files:read", "--wait", "60s"],
    );
    let code = str_field(&wait_for_request(&operator), "user_code");
    operator.cli.ok_json(["approvals", "approve", &code]);
    assert!(running.join().unwrap().success());
    let did = did_in(&agent);

    let before = agent.ok_json(["status"]);
    assert_eq!(before["server_answers"], true, "{before}");
    assert_eq!(before["agent"]["identity"]["did"], did.as_str(), "{before}");
    assert_eq!(
        before["agent"]["server_view"]["status"], "active",
        "{before}"
    );
    assert_eq!(
        before["agent"]["server_view"]["allowed_scopes"],
        json!(["files:read"]),
        "{before}"
    );
    assert_eq!(before["agent"]["server_view"]["approval_scopes"], json!([]));
    assert_eq!(
        before["agent"]["server_view"]["registration"]["status"],
        "approved"
    );
    assert_eq!(before["tokens"], json!([]), "{before}");

    // A request caches a token: status lists it with its expiry, never the token itself.
    let service = Service::start_on_loopback(&world.server.issuer());
    let vault = format!("{}/vault", service.url);
    let called = agent.ok_json(["request", "GET", &vault, "--scope", "files:read"]);
    assert_eq!(called["status"], 200, "{called}");
    let after = agent.ok_json(["status"]);
    let tokens = after["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1, "{after}");
    assert_eq!(tokens[0]["aud"], service.url.as_str());
    assert_eq!(tokens[0]["scope"], "files:read");
    assert_eq!(tokens[0]["token_type"], "DPoP");
    assert_eq!(tokens[0]["expired"], false);
    assert!(tokens[0]["expires_at"].as_u64().is_some(), "{after}");
    assert!(tokens[0].get("token").is_none(), "{after}");
    let human = agent.human().run(["status"]);
    assert!(human.success(), "{human:?}");
    for needle in [
        "status: active",
        "allowed scopes: files:read",
        "approval scopes: (none)",
        "cached tokens:",
        "Z, in ",
    ] {
        assert!(human.stdout.contains(needle), "{needle}: {}", human.stdout);
    }

    // The operator's home: its verification status and expiry.
    let seen = operator.cli.ok_json(["status"]);
    assert_eq!(
        seen["operator"]["server_view"]["status"], "verified",
        "{seen}"
    );
    assert!(
        seen["operator"]["server_view"]["verification_expires_at"]
            .as_u64()
            .is_some()
    );
    let human = operator.cli.human().run(["status"]);
    assert!(
        human
            .stdout
            .contains("status: verified, verification expires "),
        "{}",
        human.stdout
    );

    // A server that does not answer: reported, and the local identity still shown.
    world.server.kill();
    let offline = agent.ok_json(["status"]);
    assert_eq!(offline["server_answers"], false, "{offline}");
    assert_eq!(
        offline["agent"]["identity"]["did"],
        did.as_str(),
        "{offline}"
    );
    assert!(offline["agent"].get("server_view").is_none(), "{offline}");
    assert_eq!(offline["tokens"].as_array().map(Vec::len), Some(1));
}
