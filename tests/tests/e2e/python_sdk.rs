//! The Python SDK ([`sdk/python`], package `auth4agent`) against a real server, real DNS and the real CLI: its
//! pytest suite (`sdk/python/tests`) runs with the homes and URLs of a world set up here. An agent calls the
//! verifier crate's example `axum-service` through `agent.auth` (Bearer and DPoP, sync and async); a FastAPI
//! service on the SDK's verifier refuses a wrong scope, a wrong audience, an agent revoked with the CLI (through
//! the status list) and a replayed DPoP proof; the device grant is approved with `auth4agent approvals approve`;
//! an agent onboarded with `auth4agent login` (approved through the queue) calls the service through the SDK;
//! and the SDK's unit tests of its pure parts. The SDK is imported from the source tree; its pinned test
//! requirements are installed by `scripts/test.sh` (missing ones fail, never skip).

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::oauth_clients::{MCP_SCOPE, McpServer, mcp_client, post_mcp};
use crate::python_support::{Run, repo, require_python_deps};
use crate::support::{AUD, Operator, World, str_field, strings};
use crate::verifier_service::Service;

const REQUIREMENTS: [&str; 1] = ["sdk/python/tests/requirements.txt"];
/// The servers' status list ttl, seconds: a revocation shows within it.
const STATUS_TTL: u64 = 2;
/// How long one pytest file may take (the device grant polls every 5 s).
const PYTEST_TIMEOUT: Duration = Duration::from_secs(180);

/// A world whose status lists turn over every [`STATUS_TTL`] seconds, with a verified operator.
fn world() -> (World, Operator) {
    let world = World::with(|b| b.args(["--status-list-ttl", &STATUS_TTL.to_string()]));
    let operator = world.verified_operator("operator", "example.com");
    (world, operator)
}

/// `python3 -m pytest FILE` on the SDK's source tree with `env`; fails unless every test ran and passed.
fn pytest(file: &str, env: &[(&str, String)]) -> Run {
    require_python_deps(&REQUIREMENTS);
    let mut command = Command::new("python3");
    command
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-v", "-rs"])
        .arg(format!("sdk/python/tests/{file}"))
        .current_dir(repo())
        .env("PYTHONPATH", repo().join("sdk/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("AUTH4AGENT_E2E", "1")
        .env_remove("AUTH4AGENT_HOME")
        .env_remove("AUTH4AGENT_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 -m pytest: {e}"));
    // Drain both pipes while it runs: pytest -v can print more than a pipe holds.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > PYTEST_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait().expect("wait");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    assert!(
        started.elapsed() <= PYTEST_TIMEOUT,
        "pytest {file} did not finish in {PYTEST_TIMEOUT:?}\n{run}"
    );
    assert_eq!(run.code, 0, "pytest {file} failed\n{run}");
    let summary = run.stdout.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("skipped") && !summary.contains("failed"),
        "pytest {file}: every test must run and pass: {summary}\n{run}"
    );
    eprintln!("pytest {file}: {summary}");
    run
}

fn home(operator_or_agent: &auth4agent_e2e::Cli) -> String {
    operator_or_agent.home().display().to_string()
}

fn cli() -> String {
    auth4agent_testkit::cli_bin().display().to_string()
}

#[test]
fn sdk_unit_tests() {
    pytest("test_unit.py", &[]);
}

#[test]
fn sdk_agent_calls_the_axum_service_with_bearer_and_dpop_tokens() {
    let (world, operator) = world();
    let agent = world.active_agent("agent", &operator, "files:read,files:write");
    let service = Service::start_on_loopback(&world.server.issuer());
    pytest(
        "test_agent.py",
        &[
            ("AUTH4AGENT_E2E_AGENT_HOME", home(&agent.cli)),
            ("AUTH4AGENT_E2E_AGENT_DID", agent.did.clone()),
            ("AUTH4AGENT_E2E_ISSUER", world.server.issuer()),
            ("AUTH4AGENT_E2E_SERVICE", service.url.clone()),
        ],
    );

    // examples/python-agent/agent.py, the ten-line agent, with the home from the environment as the CLI reads it.
    let vault = format!("{}/vault", service.url);
    let out = Command::new("python3")
        .args([
            "examples/python-agent/agent.py",
            &vault,
            "--audience",
            &service.url,
            "--dpop",
        ])
        .current_dir(repo())
        .env("PYTHONPATH", repo().join("sdk/python/src"))
        .env("AUTH4AGENT_HOME", agent.cli.home())
        .env_remove("AUTH4AGENT_PROFILE")
        .stdin(Stdio::null())
        .output()
        .expect("run examples/python-agent/agent.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("200 ") && stdout.contains(&agent.did),
        "agent.py: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sdk_fastapi_service_refuses_scope_audience_revoked_agent_and_replayed_proof() {
    let (world, operator) = world();
    let agent = world.active_agent("agent", &operator, "files:read,files:write");
    let doomed = world.active_agent("doomed", &operator, "files:read");
    pytest(
        "test_service.py",
        &[
            ("AUTH4AGENT_E2E_AGENT_HOME", home(&agent.cli)),
            ("AUTH4AGENT_E2E_AGENT_DID", agent.did.clone()),
            ("AUTH4AGENT_E2E_DOOMED_HOME", home(&doomed.cli)),
            ("AUTH4AGENT_E2E_DOOMED_DID", doomed.did.clone()),
            ("AUTH4AGENT_E2E_OPERATOR_HOME", home(&operator.cli)),
            ("AUTH4AGENT_E2E_ISSUER", world.server.issuer()),
            ("AUTH4AGENT_E2E_STATUS_TTL", STATUS_TTL.to_string()),
            ("AUTH4AGENT_E2E_CLI", cli()),
        ],
    );
}

#[test]
fn sdk_device_grant_approved_and_denied_with_the_cli() {
    let (world, operator) = world();
    let agent = world.active_agent("agent", &operator, "files:read");
    let set = operator.cli.ok_json([
        "agent-scopes",
        "set",
        "--did",
        &agent.did,
        "--scopes",
        "files:read",
        "--approval-scopes",
        "payments:write",
    ]);
    assert_eq!(
        set["approval_scopes"],
        serde_json::json!(["payments:write"]),
        "{set}"
    );
    pytest(
        "test_device.py",
        &[
            ("AUTH4AGENT_E2E_AGENT_HOME", home(&agent.cli)),
            ("AUTH4AGENT_E2E_AGENT_DID", agent.did.clone()),
            ("AUTH4AGENT_E2E_OPERATOR_HOME", home(&operator.cli)),
            ("AUTH4AGENT_E2E_ISSUER", world.server.issuer()),
            ("AUTH4AGENT_E2E_CLI", cli()),
        ],
    );
}

/// Onboarding with one command: `auth4agent login` asks for two scopes, the operator approves one through the
/// approval queue with the CLI, and the SDK reads the home `login` wrote and calls the example service with it.
#[test]
fn sdk_agent_onboarded_with_login_calls_the_axum_service() {
    let (world, operator) = world();
    let service = Service::start_on_loopback(&world.server.issuer());
    pytest(
        "test_login.py",
        &[
            ("AUTH4AGENT_E2E_OPERATOR_HOME", home(&operator.cli)),
            ("AUTH4AGENT_E2E_SERVER", world.server.url()),
            ("AUTH4AGENT_E2E_DOMAIN", "example.com".to_owned()),
            ("AUTH4AGENT_E2E_SERVICE", service.url.clone()),
            ("AUTH4AGENT_E2E_CLI", cli()),
        ],
    );
}

/// The MCP Python SDK's client against `examples/mcp/server_sdk.py`, an MCP server whose token verifier is the
/// SDK's `McpTokenVerifier`: tools answer for the agent with the scope; a token without it is 403, one for another
/// audience 401, and a revoked agent's token is refused once the status list turns over.
#[test]
fn sdk_mcp_token_verifier_serves_the_mcp_sdk_client() {
    require_python_deps(&["examples/mcp/requirements.txt"]);
    let (world, operator) = world();
    let agent = world.active_agent("agent", &operator, MCP_SCOPE);
    let other = world.active_agent("other", &operator, "read");
    let server = McpServer::start_script("examples/mcp/server_sdk.py", &world.server.issuer());

    let run = mcp_client(&world, &server, &agent);
    assert_eq!(
        run.code,
        0,
        "the MCP client failed\n{run}\n{}",
        server.logs()
    );
    let out = run.json();
    assert_eq!(strings(&out["tools"]), ["add", "whoami"], "{run}");
    assert_eq!(out["whoami"]["agent"], agent.did.as_str(), "{run}");
    assert_eq!(strings(&out["whoami"]["scopes"]), [MCP_SCOPE], "{run}");
    assert_eq!(out["add"]["result"], 5, "{run}");

    let status = |token: &str| post_mcp(&server, Some(token)).status();
    let without_scope = str_field(&other.issue("read", &server.url), "token");
    assert_eq!(status(&without_scope), 403, "{}", server.logs());
    let elsewhere = str_field(&agent.issue(MCP_SCOPE, AUD), "token");
    assert_eq!(status(&elsewhere), 401, "{}", server.logs());
    let good = str_field(&agent.issue(MCP_SCOPE, &server.url), "token");
    let accepted = status(&good);
    assert!(
        accepted != 401 && accepted != 403,
        "a good token was refused: {accepted}\n{}",
        server.logs()
    );

    let revoked = operator
        .cli
        .ok_json(["revoke", "agent", "--did", &agent.did]);
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    let deadline = Instant::now() + Duration::from_secs(3 * STATUS_TTL + 5);
    while status(&good) != 401 {
        assert!(
            Instant::now() < deadline,
            "a revoked agent's token was still accepted\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
