//! The CLI checks the issuer a server's discovery document names (spec §15.1): it must be the URL the CLI
//! was told to use, or the issuer pinned in the home for that URL, or `--issuer`. A server at another URL
//! that names the real issuer is refused before any proof or assertion is made for it.

use auth4agent_api::routes;
use auth4agent_testkit::{TestServer, free_port};

use crate::support::{AUD, World, str_field};

#[test]
fn a_server_at_another_url_naming_the_real_issuer_gets_no_proof() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let impostor = TestServer::builder(world.dns.addr())
        .issuer(world.server.url())
        .start();
    for flow in ["challenge", "client-credentials"] {
        let refused = agent.cli.fail_with(
            [
                "--server",
                &impostor.url(),
                "issue",
                "--flow",
                flow,
                "--scope",
                "read",
                "--aud",
                AUD,
            ],
            "issuer_mismatch",
        );
        assert_eq!(refused.code(), Some(3), "{refused}");
        assert!(refused.text().contains(&impostor.url()), "{refused}");
    }
    // The impostor was asked for its discovery document and for nothing else.
    let log = impostor.log();
    assert!(log.contains(routes::CONFIGURATION), "{log}");
    for path in [routes::CHALLENGE, routes::TOKEN, routes::OAUTH_TOKEN] {
        assert!(!log.contains(path), "the impostor saw {path}:\n{log}");
    }
    // The real server still works for the same home.
    let token = agent
        .cli
        .ok_json(["issue", "--scope", "read", "--aud", AUD]);
    assert!(str_field(&token, "token").starts_with("ey"), "{token}");
}

#[test]
fn a_server_whose_issuer_is_not_its_url_needs_a_pin() {
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let world = World::with(|builder| builder.issuer(issuer.clone()));
    let cli = world.cli("operator");
    cli.init_operator("pinned.example.com");
    let refused = cli.fail_with(["register", "operator"], "issuer_mismatch");
    assert!(refused.text().contains(&issuer), "{refused}");

    let pinned = cli.ok_json([
        "--issuer",
        &issuer,
        "set-server",
        "--url",
        &world.server.url(),
    ]);
    assert_eq!(pinned["server"], world.server.url(), "{pinned}");
    let registered = cli.ok_json(["register", "operator"]);
    assert_eq!(registered["status"], "unverified", "{registered}");

    // The pin holds for the saved server only: another URL naming the same issuer is refused again,
    // unless this one run names the issuer itself.
    let other = TestServer::builder(world.dns.addr())
        .issuer(issuer.clone())
        .start();
    cli.fail_with(
        ["--server", &other.url(), "verify-operator", "status"],
        "issuer_mismatch",
    );
    let status = cli.run([
        "--server",
        &other.url(),
        "--issuer",
        &issuer,
        "verify-operator",
        "status",
    ]);
    assert_ne!(status.error_code(), Some("issuer_mismatch"), "{status}");
}
