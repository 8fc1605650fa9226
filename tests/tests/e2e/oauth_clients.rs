//! Standard OAuth clients, not ours, against a real server (and DNS): Authlib's `private_key_jwt`
//! client ([`examples/oauth/authlib_client.py`]). Each uses
//! the agent's key file as `auth4agent init` wrote it, and the tokens they get verify with
//! `auth4agent verify`. Their pinned dependencies are installed by `scripts/test.sh`; without them these
//! tests fail, never skip.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{AUD, Agent, World, assert_valid, str_field, verify};

const REQUIREMENTS: [&str; 1] = ["examples/oauth/requirements.txt"];
/// How long one Python client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails (never skips) unless python3 has every pinned requirement at its pinned version.
fn require_python_deps() {
    let script = "import sys, re, importlib.metadata as m\n\
                  bad = []\n\
                  for path in sys.argv[1:]:\n\
                  \x20   for line in open(path):\n\
                  \x20       line = line.split('#')[0].strip()\n\
                  \x20       if not line: continue\n\
                  \x20       name, want = re.fullmatch(r'([A-Za-z0-9_.-]+)(?:\\[.*\\])?==(\\S+)', line).groups()\n\
                  \x20       try: have = m.version(name)\n\
                  \x20       except m.PackageNotFoundError: have = None\n\
                  \x20       if have != want: bad.append(f'{name}=={want} (installed: {have})')\n\
                  print('; '.join(bad))\n\
                  sys.exit(1 if bad else 0)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(REQUIREMENTS)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3, then run `bash scripts/test.sh`")
        });
    assert!(
        out.status.success(),
        "the pinned Python dependencies of the OAuth client tests are missing or at other versions: {}{}\n\
         run `bash scripts/test.sh` (it installs {})",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr),
        REQUIREMENTS.join(" and "),
    );
}

/// A finished Python run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The one JSON document the examples print on stdout.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `python3 -u SCRIPT ARGS…` in the repository, killed after [`CLIENT_TIMEOUT`].
fn python(script: &str, args: &[&str]) -> Run {
    let mut child = Command::new("python3")
        .arg("-u")
        .arg(script)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 {script}: {e}"));
    let started = Instant::now();
    // The outputs are small; read them after exit (or after the kill).
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().expect("wait");
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    };
    assert!(
        started.elapsed() <= CLIENT_TIMEOUT,
        "{script} did not finish in {CLIENT_TIMEOUT:?}\n{run}"
    );
    run
}

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
    require_python_deps();
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
    require_python_deps();
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
