//! The device authorization grant (RFC 8628) end to end: a real server, the real CLI on both sides. The
//! agent's `issue` for an approval scope shows the code, the URL and a QR code and waits; the operator's
//! `approvals list --wait` sees the request, `approvals approve` (narrowed, remembered) or `deny` decides.
//! The protocol answers (pending, slow_down, another agent's code, replay) are also checked over HTTP.

use std::time::{Duration, Instant};

use auth4agent_testkit::Signer;
use serde_json::Value;

use crate::support::{AUD, Agent, Operator, World, assert_shows_approval, assert_valid, str_field};

/// A verified operator and an agent allowed `read` that may get `payments:write` and `admin` on approval.
fn policy(world: &World) -> (Operator, Agent) {
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "read");
    let set = operator.cli.ok_json([
        "agent-scopes",
        "set",
        "--did",
        &agent.did,
        "--scopes",
        "read",
        "--approval-scopes",
        "payments:write,admin",
    ]);
    assert_eq!(set["allowed_scopes"], serde_json::json!(["read"]), "{set}");
    assert_eq!(
        set["approval_scopes"],
        serde_json::json!(["admin", "payments:write"]),
        "{set}"
    );
    (operator, agent)
}

/// Starts `issue ARGS` in the background; the handle yields its output.
fn issue_in_background(
    agent: &Agent,
    args: &[&str],
) -> std::thread::JoinHandle<auth4agent_e2e::CliOutput> {
    let cli = agent.cli.clone();
    let mut argv = vec!["issue".to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    std::thread::spawn(move || cli.run(argv))
}

/// The operator's pending requests, waiting up to 30 s for one.
fn wait_for_request(operator: &Operator) -> Value {
    let listed = operator.cli.ok_json(["approvals", "list", "--wait", "30s"]);
    let approvals = listed["approvals"].as_array().expect("approvals").clone();
    assert_eq!(approvals.len(), 1, "{listed}");
    approvals[0].clone()
}

#[test]
fn issue_waits_for_a_narrowed_approval_from_the_operators_cli() {
    let world = World::new();
    let (operator, agent) = policy(&world);
    let listed = agent.cli.human().run(["agent-scopes", "list"]);
    assert!(listed.success(), "{listed:?}");
    assert!(
        listed
            .stdout
            .contains("approval scopes: admin payments:write"),
        "{}",
        listed.stdout
    );

    let running = issue_in_background(
        &agent,
        &[
            "--scope",
            "read,payments:write",
            "--aud",
            AUD,
            "--binding-message",
            "Pay invoice #4411",
        ],
    );
    let request = wait_for_request(&operator);
    assert_eq!(request["did"], agent.did.as_str());
    assert_eq!(
        request["scopes"],
        serde_json::json!(["payments:write", "read"])
    );
    assert_eq!(request["resource"], AUD);
    assert_eq!(request["binding_message"], "Pay invoice #4411");
    let code = str_field(&request, "user_code");
    // The human listing shows the code and the message.
    let human = operator.cli.human().run(["approvals", "list"]);
    assert!(
        human.stdout.contains(&code) && human.stdout.contains("Pay invoice #4411"),
        "{}",
        human.stdout
    );

    let decision = operator.cli.ok_json([
        "approvals",
        "approve",
        &code.to_lowercase(),
        "--scopes",
        "payments:write",
    ]);
    assert_eq!(decision["status"], "approved", "{decision}");
    let out = running.join().unwrap();
    assert!(out.success(), "{out:?}");
    assert_shows_approval(&out.stderr, &code);
    let answer = out.json();
    assert_eq!(answer["scope"], "payments:write", "narrowed: {answer}");
    let claims = assert_valid(&agent.verify(&str_field(answer, "token"), &["--aud", AUD]));
    assert_eq!(claims["scope"], "payments:write");
    assert_eq!(claims["aud"], AUD);
    assert_eq!(
        operator.cli.ok_json(["approvals", "list"])["approvals"],
        serde_json::json!([])
    );
}

#[test]
fn a_denied_request_fails_the_issue() {
    let world = World::new();
    let (operator, agent) = policy(&world);
    let running = issue_in_background(&agent, &["--scope", "admin", "--aud", AUD]);
    let code = str_field(&wait_for_request(&operator), "user_code");
    assert_eq!(
        operator.cli.ok_json(["approvals", "deny", &code])["status"],
        "denied"
    );
    let out = running.join().unwrap();
    out.assert_error("access_denied");
    // Deciding again is refused with its own code.
    operator
        .cli
        .fail(["approvals", "approve", &code])
        .assert_error("approval_decided");
    // A scope that is neither allowed nor approvable is refused at once, without a device flow.
    agent
        .cli
        .fail(["issue", "--scope", "files:delete", "--aud", AUD])
        .assert_error("scope_not_allowed");
}

#[test]
fn an_unanswered_request_expires_and_wait_bounds_the_issue() {
    let world = World::with(|b| b.args(["--device-code-ttl", "3s"]));
    let (_operator, agent) = policy(&world);
    let out = agent
        .cli
        .run(["issue", "--scope", "admin", "--aud", AUD, "--wait", "30s"]);
    out.assert_error("expired_token");
    let started = Instant::now();
    let out = agent
        .cli
        .run(["issue", "--scope", "admin", "--aud", AUD, "--wait", "2s"]);
    out.assert_error("approval_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_remembered_approval_needs_no_new_one_until_it_is_revoked_or_expires() {
    let world = World::new();
    let (operator, agent) = policy(&world);
    let running = issue_in_background(&agent, &["--scope", "payments:write", "--aud", AUD]);
    let code = str_field(&wait_for_request(&operator), "user_code");
    let decision = operator
        .cli
        .ok_json(["approvals", "approve", &code, "--remember", "1h"]);
    let grant_id = str_field(&decision["remembered_grant"], "id");
    assert!(running.join().unwrap().success());

    // Approved at once now: no wait at all.
    let started = Instant::now();
    let again = agent.cli.ok_json([
        "issue",
        "--scope",
        "payments:write,read",
        "--aud",
        AUD,
        "--wait",
        "3s",
    ]);
    assert_eq!(again["scope"], "payments:write read");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Not for another resource.
    agent
        .cli
        .run([
            "issue",
            "--scope",
            "payments:write",
            "--aud",
            "https://other.example.com",
            "--wait",
            "1s",
        ])
        .assert_error("approval_timeout");

    let grants = operator.cli.ok_json(["approvals", "grants"]);
    assert_eq!(grants["grants"][0]["id"], grant_id.as_str(), "{grants}");
    let revoked = operator
        .cli
        .ok_json(["approvals", "revoke-grant", &grant_id]);
    assert!(revoked["revoked_at"].is_u64(), "{revoked}");
    agent
        .cli
        .run([
            "issue",
            "--scope",
            "payments:write",
            "--aud",
            AUD,
            "--wait",
            "1s",
        ])
        .assert_error("approval_timeout");

    // A short one lapses by itself.
    let running = issue_in_background(&agent, &["--scope", "admin", "--aud", AUD]);
    // Earlier requests are still pending (unanswered); wait for the one asking for admin.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pending = loop {
        let listed = operator.cli.ok_json(["approvals", "list"]);
        let admin: Vec<String> = listed["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["scopes"] == serde_json::json!(["admin"]))
            .map(|a| str_field(a, "user_code"))
            .collect();
        if !admin.is_empty() {
            break admin;
        }
        assert!(Instant::now() < deadline, "no admin request: {listed}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(pending.len(), 1);
    operator
        .cli
        .ok_json(["approvals", "approve", &pending[0], "--remember", "8s"]);
    let approved_at = Instant::now();
    assert!(running.join().unwrap().success());
    agent
        .cli
        .ok_json(["issue", "--scope", "admin", "--aud", AUD, "--wait", "1s"]);
    std::thread::sleep(Duration::from_secs(9).saturating_sub(approved_at.elapsed()));
    agent
        .cli
        .run(["issue", "--scope", "admin", "--aud", AUD, "--wait", "1s"])
        .assert_error("approval_timeout");
}

fn device_form(signer: &Signer, did: &str, issuer: &str, extra: &[(&str, &str)]) -> String {
    Signer::device_authorization_form(&signer.client_assertion(did, issuer), extra)
}

fn poll(
    world: &World,
    signer: &Signer,
    did: &str,
    device_code: &str,
) -> auth4agent_testkit::HttpResponse {
    let form = Signer::device_poll_form(
        &signer.client_assertion(did, &world.server.issuer()),
        device_code,
    );
    world
        .server
        .http()
        .post_form("/oauth/token", &form)
        .expect("poll")
}

#[track_caller]
fn assert_oauth(response: &auth4agent_testkit::HttpResponse, error: &str) {
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.json()["error"], error, "{}", response.body);
}

#[test]
fn the_protocol_over_http() {
    let world = World::new();
    let (operator, agent) = policy(&world);
    let other = world.active_agent("other", &operator, "read");
    let issuer = world.server.issuer();
    let http = world.server.http();
    let signer = agent.signer();

    // An approval scope is refused on the one-round-trip path with its own code.
    let form = Signer::token_form(
        &signer.client_assertion(&agent.did, &issuer),
        &[("scope", "payments:write"), ("resource", AUD)],
    );
    let refused = http.post_form("/oauth/token", &form).unwrap();
    assert_eq!(
        refused.json()["auth4agent_error"],
        "approval_required",
        "{}",
        refused.body
    );

    let form = device_form(
        &signer,
        &agent.did,
        &issuer,
        &[("scope", "payments:write"), ("resource", AUD)],
    );
    let started = http
        .post_form("/oauth/device_authorization", &form)
        .unwrap();
    assert_eq!(started.status, 200, "{}", started.body);
    let device_code = str_field(started.json(), "device_code");
    let user_code = str_field(started.json(), "user_code");
    // The approval page of verification_uri_complete tells how to approve.
    let complete = str_field(started.json(), "verification_uri_complete");
    let path = complete
        .strip_prefix(issuer.as_str())
        .expect("under the issuer");
    let page = http.get(path).expect("approval page");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("auth4agent approvals approve {user_code}")),
        "{}",
        page.body
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_oauth(
        &poll(&world, &signer, &agent.did, &device_code),
        "authorization_pending",
    );
    assert_oauth(
        &poll(&world, &signer, &agent.did, &device_code),
        "slow_down",
    );
    assert_oauth(
        &poll(&world, &other.signer(), &other.did, &device_code),
        "invalid_grant",
    );

    operator.cli.ok_json(["approvals", "approve", &user_code]);
    // The slowed-down interval (10 s) still applies to a pending code only: the approved one is answered.
    let token = poll(&world, &signer, &agent.did, &device_code);
    assert_eq!(token.status, 200, "{}", token.body);
    assert_eq!(token.json()["scope"], "payments:write");
    assert_oauth(
        &poll(&world, &signer, &agent.did, &device_code),
        "invalid_grant",
    );

    // Allowed scopes only: approved at once, the first poll has the token.
    let form = device_form(
        &signer,
        &agent.did,
        &issuer,
        &[("scope", "read"), ("resource", AUD)],
    );
    let started = http
        .post_form("/oauth/device_authorization", &form)
        .unwrap();
    let device_code = str_field(started.json(), "device_code");
    assert_eq!(poll(&world, &signer, &agent.did, &device_code).status, 200);
}

/// `approvals list` and `approvals grants` page like the other lists: `--limit`, `--cursor`, `--all`.
#[test]
fn approvals_and_grants_are_listed_a_page_at_a_time() {
    let world = World::new();
    let (operator, agent) = policy(&world);
    let audiences = [AUD, "https://other.example.com"];
    let running: Vec<_> = audiences
        .iter()
        .map(|aud| issue_in_background(&agent, &["--scope", "payments:write", "--aud", aud]))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while operator.cli.ok_json(["approvals", "list"])["approvals"]
        .as_array()
        .unwrap()
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "two pending requests");
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = operator.cli.ok_json(["approvals", "list", "--limit", "1"]);
    assert_eq!(first["approvals"].as_array().unwrap().len(), 1, "{first}");
    let cursor = str_field(&first, "next_cursor");
    let second = operator
        .cli
        .ok_json(["approvals", "list", "--limit", "1", "--cursor", &cursor]);
    assert_eq!(second["approvals"].as_array().unwrap().len(), 1, "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    assert_ne!(first["approvals"][0], second["approvals"][0]);
    let all = operator
        .cli
        .ok_json(["approvals", "list", "--all", "--limit", "1"]);
    let codes: Vec<String> = all["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| str_field(a, "user_code"))
        .collect();
    assert_eq!(codes.len(), 2, "{all}");

    for code in &codes {
        operator
            .cli
            .ok_json(["approvals", "approve", code, "--remember", "1h"]);
    }
    for issue in running {
        assert!(issue.join().unwrap().success());
    }
    let page = operator
        .cli
        .ok_json(["approvals", "grants", "--limit", "1"]);
    assert_eq!(page["grants"].as_array().unwrap().len(), 1, "{page}");
    assert!(page["next_cursor"].is_string(), "{page}");
    let grants = operator
        .cli
        .ok_json(["approvals", "grants", "--all", "--limit", "1"]);
    assert_eq!(grants["grants"].as_array().unwrap().len(), 2, "{grants}");
    assert!(grants["next_cursor"].is_null(), "{grants}");
    operator
        .cli
        .run(["approvals", "grants", "--cursor", "bm90LWEtY3Vyc29y"])
        .assert_error("invalid_request");
}
