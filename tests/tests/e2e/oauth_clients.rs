//! Standard OAuth clients, not ours, against a real server (and DNS): Authlib's `private_key_jwt`
//! client ([`examples/oauth/authlib_client.py`]) and the MCP Python SDK end to end ([`examples/mcp/`]: an
//! SDK server verifying our tokens offline, an SDK client with `PrivateKeyJWTOAuthProvider`). Each uses
//! the agent's key file as `auth4agent init` wrote it, and the tokens they get verify with
//! `auth4agent verify`. Their pinned dependencies are installed by `scripts/test.sh`; without them these
//! tests fail, never skip.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth4agent_testkit::free_port;
use serde_json::Value;

use crate::python_support::{Run, python, repo, require_python_deps};
use crate::support::{AUD, Agent, World, assert_valid, str_field, strings, verify};

const REQUIREMENTS: [&str; 2] = [
    "examples/oauth/requirements.txt",
    "examples/mcp/requirements.txt",
];
/// The scope the example MCP server requires.
pub(crate) const MCP_SCOPE: &str = "mcp:tools";

fn key_file(agent: &Agent) -> String {
    let path = agent.cli.home().join("keys").join("agent.key");
    assert!(path.is_file(), "the agent's key file {}", path.display());
    path.display().to_string()
}

fn authlib(world: &World, agent: &Agent, extra: &[&str]) -> Run {
    let issuer = world.server.issuer();
    let key = key_file(agent);
    let mut args = vec![
        "--issuer",
        &issuer,
        "--client-id",
        &agent.did,
        "--key",
        &key,
        "--resource",
        AUD,
    ];
    args.extend_from_slice(extra);
    python("examples/oauth/authlib_client.py", &args)
}

#[test]
fn authlib_private_key_jwt_gets_a_token_that_verifies() {
    require_python_deps(&REQUIREMENTS);
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();

    let run = authlib(&world, &agent, &["--scope", "read"]);
    assert_eq!(run.code, 0, "Authlib got no token\n{run}");
    let answer = run.json();
    assert_eq!(answer["token_type"], "Bearer", "{run}");
    assert_eq!(answer["scope"], "read", "{run}");
    assert!(
        answer["expires_in"].as_u64().is_some_and(|s| s > 0),
        "{run}"
    );
    let token = str_field(&answer, "access_token");
    let claims = assert_valid(&verify(&agent.cli, &token, &["--aud", AUD]));
    assert_eq!(claims["sub"], agent.did.as_str());
    assert_eq!(claims["client_id"], agent.did.as_str());
    assert_eq!(claims["aud"], AUD);
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["iss"], world.server.issuer());
    // The token is for its resource only.
    let wrong = verify(&agent.cli, &token, &["--aud", "https://other.example"]);
    assert!(
        !wrong.success(),
        "a token for {AUD} verified for another audience\n{wrong}"
    );

    // No scope asked: every scope the agent is allowed.
    let run = authlib(&world, &agent, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["scope"], "read write", "{run}");
}

#[test]
fn authlib_surfaces_refusals_as_oauth_errors() {
    require_python_deps(&REQUIREMENTS);
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();

    // A scope the operator did not allow: Authlib raises OAuthError("invalid_scope").
    let run = authlib(&world, &agent, &["--scope", "read admin"]);
    assert_eq!(run.code, 1, "expected an OAuthError\n{run}");
    let error = run.json();
    assert_eq!(error["error"], "invalid_scope", "{run}");
    assert!(
        str_field(&error, "error_description").contains("admin"),
        "{run}"
    );

    // Authlib's stock PrivateKeyJWT signs assertions for 3600 s, past our 300 s limit (spec §8.4):
    // refused as a bad client authentication. The example passes a shorter lifetime.
    let run = authlib(&world, &agent, &["--stock-assertion-lifetime"]);
    assert_eq!(run.code, 1, "a 3600 s assertion was accepted\n{run}");
    let error = run.json();
    assert_eq!(error["error"], "invalid_client", "{run}");
    assert!(
        str_field(&error, "error_description").contains("lifetime_too_long"),
        "{run}"
    );
}

/// The example MCP server as a subprocess on a free loopback port; killed on drop.
pub(crate) struct McpServer {
    child: Child,
    pub(crate) url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl McpServer {
    fn start(issuer: &str) -> McpServer {
        McpServer::start_script("examples/mcp/server.py", issuer)
    }

    /// `script` (server.py, or server_sdk.py on the auth4agent SDK of this tree) for `issuer`.
    pub(crate) fn start_script(script: &str, issuer: &str) -> McpServer {
        let dir = tempfile::Builder::new()
            .prefix("auth4agent-e2e-mcp-")
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("server.log");
        let port = free_port().to_string();
        let child = Command::new("python3")
            .args(["-u", script, "--issuer", issuer])
            .env("PYTHONPATH", repo().join("sdk/python/src"))
            .args(["--port", &port, "--scope", MCP_SCOPE])
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(std::fs::File::create(dir.path().join("server.err")).expect("log file"))
            .spawn()
            .expect("spawn examples/mcp/server.py");
        let mut server = McpServer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
            log,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    pub(crate) fn metadata_url(&self) -> String {
        self.url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    }

    pub(crate) fn logs(&self) -> String {
        let err = self.log.with_file_name("server.err");
        format!(
            "--- server stdout\n{}\n--- server stderr\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        let http = reqwest::blocking::Client::new();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("the MCP server exited ({status})\n{}", self.logs());
            }
            if http
                .get(self.metadata_url())
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the MCP server did not start\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn mcp_client(world: &World, server: &McpServer, agent: &Agent) -> Run {
    let issuer = world.server.issuer();
    let key = key_file(agent);
    python(
        "examples/mcp/client.py",
        &[
            "--url",
            &server.url,
            "--issuer",
            &issuer,
            "--client-id",
            &agent.did,
            "--key",
            &key,
        ],
    )
}

/// POST /mcp with `token` as the bearer token (the answer before any MCP processing: auth is checked first).
pub(crate) fn post_mcp(server: &McpServer, token: Option<&str>) -> reqwest::blocking::Response {
    let mut request = reqwest::blocking::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().expect("POST /mcp")
}

fn www_authenticate(resp: &reqwest::blocking::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no WWW-Authenticate on {}", resp.status()))
        .to_owned()
}

#[test]
fn mcp_sdk_end_to_end_with_private_key_jwt() {
    require_python_deps(&REQUIREMENTS);
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, MCP_SCOPE);
    let issuer = world.server.issuer();
    let server = McpServer::start(&issuer);

    // What the SDK client will discover: RFC 9728 metadata naming our server, and the 401 pointing there.
    let prm: Value = reqwest::blocking::get(server.metadata_url())
        .expect("GET protected resource metadata")
        .json()
        .expect("JSON");
    assert_eq!(prm["resource"], server.url.as_str(), "{prm}");
    assert_eq!(strings(&prm["authorization_servers"]), [issuer.as_str()]);
    assert_eq!(strings(&prm["scopes_supported"]), [MCP_SCOPE]);
    let resp = post_mcp(&server, None);
    assert_eq!(resp.status(), 401);
    assert!(
        www_authenticate(&resp)
            .contains(&format!("resource_metadata=\"{}\"", server.metadata_url())),
        "{}",
        www_authenticate(&resp)
    );

    // The SDK client: discovery, token, tools.
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
    assert_eq!(out["whoami"]["client_id"], agent.did.as_str(), "{run}");
    assert_eq!(strings(&out["whoami"]["scopes"]), [MCP_SCOPE], "{run}");
    assert_eq!(out["add"]["result"], 5, "{run}");
    assert_eq!(out["scope"], MCP_SCOPE, "{run}");
    // The token it got is ours, for the MCP server (RFC 8707 resource = its URL).
    let token = str_field(&out, "access_token");
    let claims = assert_valid(&verify(&agent.cli, &token, &["--aud", &server.url]));
    assert_eq!(claims["sub"], agent.did.as_str());
    assert_eq!(claims["aud"], server.url.as_str());
    assert_eq!(claims["scope"], MCP_SCOPE);
}

#[test]
fn mcp_sdk_refuses_an_agent_without_the_scope() {
    require_python_deps(&REQUIREMENTS);
    let world = World::new();
    let operator = world.verified_operator("operator", "example.com");
    let agent = world.active_agent("agent", &operator, MCP_SCOPE);
    let other = world.active_agent("other", &operator, "read");
    let server = McpServer::start(&world.server.issuer());

    // The SDK client asks for the scope the MCP server names; our token endpoint refuses it.
    let run = mcp_client(&world, &server, &other);
    assert_eq!(
        run.code, 1,
        "an agent without {MCP_SCOPE} was let in\n{run}"
    );
    let out = run.json();
    assert_eq!(out["error"], "authorization_failed", "{run}");
    assert_eq!(out["oauth_error"], "invalid_scope", "{run}");
    assert!(
        str_field(&out, "detail").contains("scope_not_allowed"),
        "{run}"
    );

    // The MCP server's own checks, with tokens from the CLI: a valid token for it without the scope is
    // 403 insufficient_scope; a token for another audience, 401.
    let token = str_field(&other.issue("read", &server.url), "token");
    let resp = post_mcp(&server, Some(&token));
    assert_eq!(resp.status(), 403, "{}", server.logs());
    assert!(
        www_authenticate(&resp).contains("error=\"insufficient_scope\""),
        "{}",
        www_authenticate(&resp)
    );
    let token = str_field(&agent.issue(MCP_SCOPE, AUD), "token");
    assert_eq!(post_mcp(&server, Some(&token)).status(), 401);
    // With the scope and the audience: past auth (the MCP layer answers, not 401/403).
    let token = str_field(&agent.issue(MCP_SCOPE, &server.url), "token");
    let status = post_mcp(&server, Some(&token)).status();
    assert!(
        status != 401 && status != 403,
        "a good token was refused: {status}\n{}",
        server.logs()
    );
}
