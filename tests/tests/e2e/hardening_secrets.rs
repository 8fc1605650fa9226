//! Secrets: the whole quick start runs through the real CLI against a server logging at trace
//! level, then the server's log, every CLI stdout and stderr (JSON and human, success and error)
//! and every non-key file in the homes are scanned for private key material: the PEM marker, the
//! PEM body, and each key's 32-byte seed in base64, base64url and hex. Key files must be 0600 in
//! 0700 directories, and the server's SQLite file (it holds the signing key) is closed to group
//! and others. A private JWK sent to the server is refused and not logged.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use auth4agent_e2e::{Cli, CliOutput};
use auth4agent_testkit::{Backend, Signer};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::{Value, json};

use crate::hardening_support::try_signed;
use crate::support::{AUD, World, str_field};

/// Everything the CLI printed during the test.
#[derive(Default)]
struct Transcript {
    outputs: Vec<CliOutput>,
}

impl Transcript {
    #[track_caller]
    fn ok(&mut self, cli: &Cli, args: &[&str]) -> Value {
        let output = cli.run(args);
        assert!(output.success(), "{output}");
        let json = output.json().clone();
        self.outputs.push(output);
        json
    }

    #[track_caller]
    fn ok_stdin(&mut self, cli: &Cli, args: &[&str], stdin: &str) -> Value {
        let output = cli.run_stdin(args, stdin);
        assert!(output.success(), "{output}");
        let json = output.json().clone();
        self.outputs.push(output);
        json
    }

    #[track_caller]
    fn fails(&mut self, cli: &Cli, args: &[&str]) {
        let output = cli.run(args);
        assert!(!output.success(), "expected a failure\n{output}");
        self.outputs.push(output);
    }

    #[track_caller]
    fn any(&mut self, cli: &Cli, args: &[&str]) {
        self.outputs.push(cli.run(args));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The strings that would betray the private key in `pem`: its PEM body and lines, and its seed
/// in every common encoding.
fn betraying_strings(pem: &str) -> Vec<String> {
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    let der = STANDARD
        .decode(body.concat())
        .expect("the PEM body is base64");
    // PKCS#8 Ed25519 (RFC 8410): privateKey OCTET STRING (04 22) wrapping the seed (04 20 …).
    let at = der
        .windows(4)
        .position(|w| w == [0x04, 0x22, 0x04, 0x20])
        .expect("an Ed25519 PKCS#8 key");
    let seed = &der[at + 4..at + 36];
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let mut needles = vec![
        body.concat(),
        auth4agent_protocol::b64url_encode(seed),
        STANDARD.encode(seed),
        STANDARD_NO_PAD.encode(seed),
        hex.to_uppercase(),
        hex,
    ];
    needles.extend(
        body.iter()
            .filter(|l| l.len() >= 16)
            .map(|l| (*l).to_owned()),
    );
    needles
}

#[test]
fn private_keys_never_appear_in_logs_output_or_other_files() {
    let world = World::with(|b| b.env("AUTH4AGENT_LOG", "trace"));
    let url = world.server.url();
    let mut t = Transcript::default();

    // The quick start, operator side.
    let operator = world.cli("operator");
    t.ok(
        &operator,
        &[
            "init",
            "--operator",
            "--domain",
            "example.com",
            "--server",
            &url,
        ],
    );
    let id = str_field(&t.ok(&operator, &["register", "operator"]), "id");
    let instructions = t.ok(&operator, &["verify-operator", "instructions"]);
    t.fails(&operator, &["verify-operator", "confirm"]);
    world.dns.add_txt(
        &str_field(&instructions, "txt_record_name"),
        str_field(&instructions, "txt_record_value"),
    );
    t.ok(&operator, &["verify-operator", "confirm"]);
    t.ok(&operator, &["verify-operator", "status"]);
    t.fails(
        &operator,
        &[
            "init",
            "--operator",
            "--domain",
            "example.com",
            "--server",
            &url,
        ],
    );

    // Agent side.
    let agent = world.cli("agent");
    let did = str_field(
        &t.ok(
            &agent,
            &["init", "--domain", "example.com", "--server", &url],
        ),
        "did",
    );
    t.ok(&agent, &["register", "agent", "--operator-id", &id]);
    t.fails(&agent, &["issue", "--scope", "read", "--aud", AUD]);
    t.ok(
        &operator,
        &[
            "agent-scopes",
            "set",
            "--scopes",
            "read,write",
            "--did",
            &did,
        ],
    );
    t.ok(&agent, &["agent-scopes", "list"]);
    t.fails(&agent, &["agent-scopes", "set", "--scopes", "admin"]);
    let token = str_field(
        &t.ok(&agent, &["issue", "--scope", "read", "--aud", AUD]),
        "token",
    );
    t.fails(&agent, &["issue", "--scope", "admin", "--aud", AUD]);
    t.ok_stdin(&agent, &["verify", "--token", "-", "--aud", AUD], &token);
    t.ok_stdin(
        &agent,
        &["verify", "--token", "-", "--aud", AUD, "--online"],
        &token,
    );
    t.ok(&agent, &["jwks"]);
    t.ok(&agent, &["whoami"]);
    t.ok(&operator, &["whoami"]);
    t.ok(&agent, &["health"]);
    t.ok_stdin(&agent, &["revoke", "token", "--token", "-"], &token);
    t.ok(&operator, &["revoke", "list"]);
    t.ok(&operator, &["revoke", "suspend", "--did", &did]);
    t.ok(&operator, &["revoke", "reactivate", "--did", &did]);
    // Human output and human errors.
    for cli in [&operator.human(), &agent.human()] {
        t.any(cli, &["whoami"]);
        t.any(cli, &["issue", "--scope", "admin", "--aud", AUD]);
    }
    t.ok(&operator, &["revoke", "agent", "--did", &did]);

    // A private JWK (with `d`) sent to the server: refused, and its `d` is not logged.
    let leaky = Signer::generate();
    let seed = rand::random::<[u8; 32]>();
    let d = auth4agent_protocol::b64url_encode(&seed);
    let mut jwk = leaky.public_jwk();
    jwk["d"] = json!(d);
    let refused = try_signed(
        world.server.http(),
        &leaky,
        "POST",
        "/v1/operators",
        Some(&json!({ "domain": "leaky.example.com", "public_key": jwk })),
    )
    .expect("register");
    assert_eq!(
        (refused.status, refused.error_code()),
        (400, Some("invalid_key")),
        "{refused:?}"
    );
    assert!(
        !refused.body.contains(&d),
        "the error echoes the private key"
    );

    // The scan.
    let homes = operator.home().parent().expect("homes dir").to_path_buf();
    let mut key_files = Vec::new();
    let mut other_files = Vec::new();
    for file in files_under(&homes) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.contains("PRIVATE KEY") {
            key_files.push((file, text));
        } else {
            other_files.push((file, text));
        }
    }
    let names: Vec<String> = key_files
        .iter()
        .map(|(f, _)| f.display().to_string())
        .collect();
    assert_eq!(key_files.len(), 2, "one key per home: {names:?}");

    let mut needles = vec!["PRIVATE KEY".to_owned(), d.clone()];
    for (_, pem) in &key_files {
        needles.extend(betraying_strings(pem));
    }
    let log = world.server.log();
    assert!(
        log.contains("/v1/operators"),
        "the server log captured the requests (trace level)"
    );
    let mut haystacks: Vec<(String, String)> = vec![("server log".into(), log)];
    for output in &t.outputs {
        haystacks.push((
            format!("auth4agent {}", output.args.join(" ")),
            output.text(),
        ));
    }
    for (file, text) in &other_files {
        haystacks.push((file.display().to_string(), text.clone()));
    }
    let mut leaks = Vec::new();
    for (place, text) in &haystacks {
        for needle in &needles {
            if text.contains(needle.as_str()) {
                let shown: String = needle.chars().take(12).collect();
                leaks.push(format!("{place} contains {shown}…"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "private key material leaked ({} places scanned):\n{}",
        haystacks.len(),
        leaks.join("\n")
    );

    // Permissions: key files 0600, their directories and the homes 0700.
    for (file, _) in &key_files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        let dir = file.parent().expect("a key directory");
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    for home in [operator.home(), agent.home()] {
        assert_eq!(mode(home), 0o700, "{}", home.display());
    }
    // The server's SQLite file holds its signing key: no access for group or others.
    if world.server.backend() == Backend::Sqlite {
        let db = world.server.db_path();
        assert_eq!(
            mode(&db) & 0o077,
            0,
            "{} is mode {:o}",
            db.display(),
            mode(&db)
        );
    }
}
