//! The browser operator console end to end: a real server (and DNS), the real CLI on both sides (the agent's
//! `issue` for an approval scope waiting in the background, the operator's `auth4agent console` for the one-time
//! link), and a real browser: headless Chromium driven by Selenium (`tests/browser/console_test.py`, pinned in
//! `tests/browser/requirements.txt`, installed by `scripts/test.sh`; without it this fails, never skips). The
//! browser signs in with the link, sees that a second use fails, that forms without the CSRF token are refused
//! and that a framing page cannot show the console, approves with one scope unticked, and signs out; the agent's
//! token carries exactly the narrowed scopes. With Selenium's virtual authenticator (CTAP2, resident keys, user
//! verification; `tests/browser/passkey_test.py`, on an issuer with a host name, `http://localhost:PORT`) it
//! registers a passkey, sees an approval without the WebAuthn step refused (`passkey_required`), approves with the
//! passkey, and signs in again with the passkey alone. The browser runs leave screenshots in `target/screenshots/`,
//! or, with `AUTH4AGENT_UPDATE_SCREENSHOTS=1`, in `docs/screenshots/` (the ones SETUP.md shows).
//! The response headers and the link's single use are also checked over raw HTTP.

use std::time::Duration;

use auth4agent_e2e::kit::raw::{self, RawOutcome};
use serde_json::Value;

use crate::hardening_support::addr;
use crate::python_support::{python_with, repo, require_python_deps};
use crate::support::{AUD, Agent, Operator, World, assert_valid, str_field};

const REQUIREMENTS: [&str; 1] = ["tests/browser/requirements.txt"];
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A verified operator and an agent allowed `read` that may get `payments:write` on approval.
fn policy(world: &World) -> (Operator, Agent) {
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, "read");
    operator.cli.ok_json([
        "agent-scopes",
        "set",
        "--did",
        &agent.did,
        "--scopes",
        "read",
        "--approval-scopes",
        "payments:write",
    ]);
    (operator, agent)
}

/// A fresh one-time login link from the real CLI.
fn login_link(operator: &Operator) -> Value {
    let link = operator.cli.ok_json(["console", "--no-open"]);
    assert_eq!(link["expires_in"], 60, "{link}");
    link
}

/// The path and query of a URL of the test server.
fn path_of(world: &World, url: &str) -> String {
    url.strip_prefix(&world.server.url())
        .unwrap_or_else(|| panic!("{url} is not on the server"))
        .to_owned()
}

fn get(world: &World, path: &str, headers: &[(&str, &[u8])]) -> raw::RawResponse {
    let request = raw::request("GET", path, headers, None);
    match raw::exchange(addr(world), &request, Duration::from_secs(10)).expect("an answer") {
        RawOutcome::Response(r) => r,
        RawOutcome::Closed => panic!("GET {path}: closed without an answer"),
    }
}

fn assert_console_headers(response: &raw::RawResponse, what: &str) {
    assert_eq!(
        response.header("content-security-policy"),
        Some(CSP),
        "{what}"
    );
    assert_eq!(response.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(
        response.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
}

#[test]
fn login_link_is_single_use_and_pages_are_hardened() {
    let world = World::new();
    let (operator, _agent) = policy(&world);
    let human = operator.cli.human().run(["console", "--no-open"]);
    assert!(human.success(), "{human:?}");
    assert!(
        human.stdout.contains("/console/login?token="),
        "{}",
        human.stdout
    );
    assert!(
        human.stderr.contains('▀') || human.stderr.contains('▄'),
        "a QR code: {}",
        human.stderr
    );

    let link = login_link(&operator);
    let login = path_of(&world, &str_field(&link, "login_url"));
    let first = get(&world, &login, &[]);
    assert_eq!(first.status, 303, "{}", first.text());
    assert_eq!(first.header("location"), Some("/console"));
    assert_console_headers(&first, "the login redirect");
    let cookie = first
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // Over http:// (this test server), no `__Host-` prefix and no `Secure`.
    assert!(cookie.starts_with("auth4agent_console="), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();

    let second = get(&world, &login, &[]);
    assert_eq!(second.status, 409, "{}", second.text());
    assert!(
        second.text().contains("login_link_used"),
        "{}",
        second.text()
    );
    assert_eq!(second.header("set-cookie"), None);
    // The link's token is a secret: the server's log never shows it.
    let token = login.split_once("token=").unwrap().1;
    assert!(
        !world.server.log().contains(token),
        "the login token is logged"
    );
    let unknown = get(&world, "/console/login?token=not-a-link", &[]);
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("login_link_not_found"));

    // With the session: every page is HTML behind the strict headers, and never framed.
    for page in [
        "/console",
        "/console/agents",
        "/console/audit",
        "/console/approve",
    ] {
        let response = get(&world, page, &[("Cookie", session.as_bytes())]);
        assert_eq!(response.status, 200, "{page}: {}", response.text());
        assert_console_headers(&response, page);
        assert!(response.text().contains("Sign out"), "{page} is signed in");
        assert!(
            !response.text().contains("<script>"),
            "{page}: no inline script"
        );
        assert!(
            !response.text().contains("style="),
            "{page}: no inline style"
        );
    }
    let css = get(&world, "/console/static/console.css", &[]);
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    // Without a session, a page says how to sign in; a form post is refused.
    let anonymous = get(&world, "/console", &[]);
    assert!(
        anonymous.text().contains("auth4agent console") && !anonymous.text().contains("Sign out")
    );
    let post = raw::request(
        "POST",
        "/console/deny",
        &[("Content-Type", b"application/x-www-form-urlencoded")],
        Some(b"user_code=BCDF-GHJK&csrf=x"),
    );
    match raw::exchange(addr(&world), &post, Duration::from_secs(10)).unwrap() {
        RawOutcome::Response(r) => {
            assert_eq!(r.status, 401, "{}", r.text());
            assert!(r.text().contains("console_session_required"));
        }
        RawOutcome::Closed => panic!("closed"),
    }
}

#[test]
fn a_browser_signs_in_and_approves_a_narrowed_request() {
    require_python_deps(&REQUIREMENTS);
    let world = World::new();
    let (operator, agent) = policy(&world);
    let cli = agent.cli.clone();
    let running = std::thread::spawn(move || {
        cli.run([
            "issue",
            "--scope",
            "read,payments:write",
            "--aud",
            AUD,
            "--binding-message",
            "Pay invoice #4411",
        ])
    });
    let listed = operator.cli.ok_json(["approvals", "list", "--wait", "30s"]);
    let code = str_field(&listed["approvals"][0], "user_code");
    let link = login_link(&operator);
    let screenshots = screenshot_dir();
    let issuer = world.server.issuer();
    let login_url = str_field(&link, "login_url");
    let screenshots = screenshots.display().to_string();
    let run = python_with(
        "tests/browser/console_test.py",
        &[],
        &[
            ("CONSOLE_LOGIN_URL", &login_url),
            ("CONSOLE_ISSUER", &issuer),
            ("CONSOLE_USER_CODE", &code),
            ("CONSOLE_UNTICK", "read"),
            ("CONSOLE_SCREENSHOTS", &screenshots),
        ],
        Duration::from_secs(180),
    );
    assert_eq!(run.code, 0, "the browser run failed\n{run}");
    let seen = run.json();
    assert_eq!(seen["second_use"], "login_link_used", "{seen}");
    assert_eq!(seen["forged_approve"], "invalid_csrf_token", "{seen}");

    // The waiting agent gets one token with exactly the scopes the browser left ticked.
    let out = running.join().unwrap();
    assert!(out.success(), "{out:?}");
    let token = str_field(out.json(), "token");
    let claims = assert_valid(&agent.verify(&token, &["--aud", AUD]));
    assert_eq!(claims["scope"], "payments:write", "{claims}");
    // The CLI's view agrees: nothing is pending any more.
    let listed = operator.cli.ok_json(["approvals", "list"]);
    assert_eq!(listed["approvals"], serde_json::json!([]), "{listed}");
}

#[test]
fn a_passkey_confirms_every_browser_approval_and_signs_in_alone() {
    require_python_deps(&REQUIREMENTS);
    // A WebAuthn relying party ID is a host name: the issuer is http://localhost:PORT.
    let world = World::on_localhost();
    let (operator, agent) = policy(&world);
    let cli = agent.cli.clone();
    let running = std::thread::spawn(move || {
        cli.run(["issue", "--scope", "read,payments:write", "--aud", AUD])
    });
    let listed = operator.cli.ok_json(["approvals", "list", "--wait", "30s"]);
    let code = str_field(&listed["approvals"][0], "user_code");
    let link = login_link(&operator);
    let login_url = str_field(&link, "login_url");
    assert!(login_url.starts_with("http://localhost:"), "{login_url}");
    let screenshots = screenshot_dir();
    let screenshots = screenshots.display().to_string();
    let issuer = world.server.issuer();
    let run = python_with(
        "tests/browser/passkey_test.py",
        &[],
        &[
            ("CONSOLE_LOGIN_URL", &login_url),
            ("CONSOLE_ISSUER", &issuer),
            ("CONSOLE_DOMAIN", "example.com"),
            ("CONSOLE_USER_CODE", &code),
            ("CONSOLE_SCREENSHOTS", &screenshots),
        ],
        Duration::from_secs(180),
    );
    assert_eq!(run.code, 0, "the browser run failed\n{run}");
    let seen = run.json();
    assert_eq!(seen["without_webauthn"], "passkey_required", "{seen}");
    let out = running.join().unwrap();
    assert!(out.success(), "{out:?}");
    let claims = assert_valid(&agent.verify(&str_field(out.json(), "token"), &["--aud", AUD]));
    assert_eq!(claims["scope"], "payments:write read", "{claims}");
}

/// Where the browser runs save their screenshots: `docs/screenshots/` when asked to refresh SETUP.md's
/// (`AUTH4AGENT_UPDATE_SCREENSHOTS=1`), else `target/screenshots/`, so a test run leaves the tree clean.
fn screenshot_dir() -> std::path::PathBuf {
    let dir = if std::env::var_os("AUTH4AGENT_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        repo().join("docs").join("screenshots")
    } else {
        repo().join("target").join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
