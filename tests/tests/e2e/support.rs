//! Shared fixtures: a [`World`] (TestDns + TestServer + a temp dir for CLI homes) and the quick
//! start steps as helpers, so each test states only what it is about.

use auth4agent_e2e::Cli;
use auth4agent_testkit::{Signer, TestServerBuilder};
use auth4agent_testkit::{TestDns, TestServer, TxtRecord};
use serde_json::Value;
use tempfile::TempDir;

/// The audience most tests ask tokens for.
pub const AUD: &str = "https://api.example.com";

/// One isolated installation: its own DNS server, server process, database and homes.
pub struct World {
    pub dns: TestDns,
    pub server: TestServer,
    homes: TempDir,
    /// The URL the CLIs use, when not the server's own (see [`World::on_localhost`]).
    cli_url: Option<String>,
}

impl World {
    pub fn new() -> World {
        World::with(|builder| builder)
    }

    /// A world whose server gets extra flags or environment.
    pub fn with(configure: impl FnOnce(TestServerBuilder) -> TestServerBuilder) -> World {
        let dns = TestDns::start();
        let server = configure(TestServer::builder(dns.addr())).start();
        let homes = tempfile::Builder::new()
            .prefix("auth4agent-e2e-homes-")
            .tempdir()
            .expect("homes temp dir");
        World {
            dns,
            server,
            homes,
            cli_url: None,
        }
    }

    /// A world whose server's issuer, and the CLIs' server, is `http://localhost:PORT`: a host name, as a
    /// WebAuthn relying party ID must be.
    pub fn on_localhost() -> World {
        let mut world = World::with(|b| b.issuer("http://localhost:{port}"));
        world.cli_url = Some(world.server.issuer());
        world
    }

    /// A CLI whose home is `<homes>/<name>` (not created: `init` creates it).
    pub fn cli(&self, name: &str) -> Cli {
        let url = self.cli_url.clone().unwrap_or_else(|| self.server.url());
        Cli::new(self.homes.path().join(name), url)
    }

    /// `init --operator`, `register operator`, `verify-operator instructions`; not verified.
    pub fn registered_operator(&self, name: &str, domain: &str) -> Operator {
        let cli = self.cli(name);
        cli.init_operator(domain);
        let registered = cli.ok_json(["register", "operator"]);
        assert_eq!(registered["status"], "unverified", "{registered}");
        assert_eq!(registered["domain"], domain, "{registered}");
        let id = str_field(&registered, "id");
        let instructions = cli.ok_json(["verify-operator", "instructions"]);
        Operator {
            cli,
            id,
            domain: domain.to_owned(),
            txt_name: str_field(&instructions, "txt_record_name"),
            txt_value: str_field(&instructions, "txt_record_value"),
        }
    }

    /// A registered operator whose domain is verified through the TXT record in [`World::dns`].
    pub fn verified_operator(&self, name: &str, domain: &str) -> Operator {
        let operator = self.registered_operator(name, domain);
        self.publish(&operator);
        let confirmed = operator.cli.ok_json(["verify-operator", "confirm"]);
        assert_eq!(confirmed["status"], "verified", "{confirmed}");
        operator
    }

    /// Publishes the operator's expected TXT record (one single-string record).
    pub fn publish(&self, operator: &Operator) {
        self.dns.set_txt(
            &operator.txt_name,
            vec![TxtRecord::from(operator.txt_value.as_str())],
        );
    }

    /// `init --domain` and `register agent --operator-id` in home `name`: a pending agent.
    pub fn registered_agent(&self, name: &str, operator: &Operator) -> Agent {
        let cli = self.cli(name);
        let init = cli.init_agent(&operator.domain);
        let did = str_field(&init, "did");
        let registered = cli.ok_json(["register", "agent", "--operator-id", &operator.id]);
        assert_eq!(registered["did"], did.as_str(), "{registered}");
        assert_eq!(registered["status"], "pending", "{registered}");
        Agent { cli, did }
    }

    /// A registered agent whose operator granted `scopes` (comma-separated): active.
    pub fn active_agent(&self, name: &str, operator: &Operator, scopes: &str) -> Agent {
        let agent = self.registered_agent(name, operator);
        let answer = operator.set_scopes(&agent.did, scopes);
        assert_eq!(answer["status"], "active", "{answer}");
        agent
    }

    /// The usual start: a verified operator for `example.com` and an agent allowed `read,write`.
    pub fn operator_and_agent(&self) -> (Operator, Agent) {
        let operator = self.verified_operator("operator", "example.com");
        let agent = self.active_agent("agent", &operator, "read,write");
        (operator, agent)
    }
}

/// An operator identity in its own home.
pub struct Operator {
    pub cli: Cli,
    pub id: String,
    pub domain: String,
    pub txt_name: String,
    pub txt_value: String,
}

impl Operator {
    /// `agent-scopes set --scopes SCOPES --did DID`; returns the agent object.
    pub fn set_scopes(&self, did: &str, scopes: &str) -> Value {
        self.cli
            .ok_json(["agent-scopes", "set", "--scopes", scopes, "--did", did])
    }

    /// The operator object (`verify-operator status`).
    pub fn status(&self) -> Value {
        self.cli.ok_json(["verify-operator", "status"])
    }

    /// The operator's private key, to sign requests by hand.
    pub fn signer(&self) -> Signer {
        Signer::from_pem_file(&self.cli.home().join("keys").join("operator.key"))
    }

    /// The agent object as the operator sees it (`agent-scopes list --did`).
    pub fn agent(&self, did: &str) -> Value {
        self.cli.ok_json(["agent-scopes", "list", "--did", did])
    }
}

/// An agent identity in its own home.
pub struct Agent {
    pub cli: Cli,
    pub did: String,
}

impl Agent {
    /// `issue --scope SCOPE --aud AUD`; returns the JSON answer.
    pub fn issue(&self, scope: &str, aud: &str) -> Value {
        self.cli.ok_json(["issue", "--scope", scope, "--aud", aud])
    }

    /// A token for `scope` and [`AUD`].
    pub fn token(&self, scope: &str) -> String {
        str_field(&self.issue(scope, AUD), "token")
    }

    /// The agent's private key, to sign requests by hand.
    pub fn signer(&self) -> Signer {
        Signer::from_pem_file(&self.cli.home().join("keys").join("agent.key"))
    }

    /// `verify --token - ARGS…` with the token on stdin (any exit code).
    pub fn verify(&self, token: &str, args: &[&str]) -> auth4agent_e2e::CliOutput {
        verify(&self.cli, token, args)
    }
}

/// `verify --token - ARGS…` from any home, with the token on stdin (any exit code).
pub fn verify(cli: &Cli, token: &str, args: &[&str]) -> auth4agent_e2e::CliOutput {
    let mut argv = vec!["verify", "--token", "-"];
    argv.extend_from_slice(args);
    cli.run_stdin(argv, token)
}

/// Asserts a `verify` run said valid (exit 0, `valid: true`); returns the claims.
#[track_caller]
pub fn assert_valid(output: &auth4agent_e2e::CliOutput) -> Value {
    assert!(output.success(), "expected a valid token\n{output}");
    assert_eq!(output.json()["valid"], true, "{output}");
    output.json()["claims"].clone()
}

/// Asserts a `verify` run said invalid with `code` (non-zero exit, `valid: false`, `error`).
#[track_caller]
pub fn assert_invalid(output: &auth4agent_e2e::CliOutput, code: &str) {
    assert!(!output.success(), "expected an invalid token\n{output}");
    assert_eq!(output.code(), Some(1), "an invalid token exits 1\n{output}");
    assert_eq!(output.json()["valid"], false, "{output}");
    output.assert_error(code);
}

/// A string member of a JSON object; panics with the document when missing.
#[track_caller]
pub fn str_field(doc: &Value, name: &str) -> String {
    doc.get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {name:?} in {doc}"))
        .to_owned()
}

/// A JSON array of strings as a `Vec`.
#[track_caller]
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v}"))
                .to_owned()
        })
        .collect()
}

pub use auth4agent_testkit::unix_now;

/// The `kid` in a compact JWS header (unverified: for comparisons only).
#[track_caller]
pub fn token_kid(jwt: &str) -> String {
    let header = jwt.split('.').next().expect("a header segment");
    let header = auth4agent_protocol::b64url_decode(header).expect("base64url header");
    let header: Value = serde_json::from_slice(&header).expect("JSON header");
    str_field(&header, "kid")
}

/// What a command waiting for an approval prints on stderr: the user code, the approval URL
/// (`verification_uri_complete`) and a terminal QR code of it (Unicode half blocks).
#[track_caller]
pub fn assert_shows_approval(stderr: &str, code: &str) {
    assert!(stderr.contains(code), "{stderr}");
    assert!(
        stderr.contains(&format!("/console/approve?user_code={code}")),
        "{stderr}"
    );
    assert!(
        stderr.contains('▀') || stderr.contains('▄'),
        "a QR code: {stderr}"
    );
}
