//! Token Status Lists end to end: real server processes (a 2 s `ttl`, lists of 4 entries) and the real CLI. A token
//! verifies offline with its list; suspending its agent makes offline verification with a fresh list refuse it
//! within one ttl, reactivating makes it verify again, revoking refuses it for good, an operator's lapsed proof
//! refuses it; a saved list serves air-gapped verification; an independent Python decoder written from the draft
//! (zlib + `cryptography`) reads the same statuses at the same indexes.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auth4agent_testkit::Http;
use serde_json::{Value, json};

use crate::support::{AUD, Agent, Operator, World, assert_invalid, assert_valid, verify};

/// The servers' status list ttl, seconds.
const TTL: u64 = 2;

fn world() -> World {
    World::with(|b| {
        b.args([
            "--status-list-ttl",
            &TTL.to_string(),
            "--status-list-size",
            "4",
        ])
    })
}

/// The token's `status.status_list` (uri, idx), read from `verify --no-status`.
fn entry(agent: &Agent, token: &str) -> (String, u64) {
    let out = agent.verify(token, &["--no-status"]);
    let claims = assert_valid(&out);
    assert_eq!(out.json()["status"]["checked"], false, "{out}");
    let list = &claims["status"]["status_list"];
    (
        list["uri"].as_str().unwrap().to_owned(),
        list["idx"].as_u64().unwrap(),
    )
}

/// Saves the list at `uri` with `status-list fetch` into `file` and verifies `token` with it, offline.
fn verify_with_fresh_list(
    agent: &Agent,
    token: &str,
    uri: &str,
    file: &Path,
) -> auth4agent_e2e::CliOutput {
    let saved = agent.cli.ok_json([
        "status-list",
        "fetch",
        "--uri",
        uri,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(saved["uri"], uri, "{saved}");
    verify(
        &agent.cli,
        token,
        &["--status-list", file.to_str().unwrap()],
    )
}

/// Polls offline verification with a freshly fetched list until its answer is `expected` (`None`: valid,
/// `Some(code)`: refused with it); asserts that this takes at most one ttl (plus a second of slack for the
/// processes).
#[track_caller]
fn within_one_ttl(agent: &Agent, token: &str, uri: &str, file: &Path, expected: Option<&str>) {
    let started = Instant::now();
    loop {
        let out = verify_with_fresh_list(agent, token, uri, file);
        let answer = if out.success() {
            None
        } else {
            out.error_code().map(str::to_owned)
        };
        if answer.as_deref() == expected {
            match expected {
                None => assert_valid(&out),
                Some(code) => {
                    assert_invalid(&out, code);
                    Value::Null
                }
            };
            return;
        }
        assert!(
            started.elapsed() <= Duration::from_secs(TTL + 1),
            "still {answer:?} after one ttl, expected {expected:?}\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn suspend(operator: &Operator, agent: &Agent, action: &str) {
    operator
        .cli
        .ok_json(["revoke", action, "--did", agent.did.as_str()]);
}

#[test]
fn suspension_reactivation_and_revocation_reach_offline_verifiers_within_one_ttl() {
    let world = world();
    let (operator, agent) = world.operator_and_agent();
    let token = agent.token("read");
    let (uri, idx) = entry(&agent, &token);
    assert_eq!(uri, format!("{}/status-lists/1", world.server.url()));
    // The first agent takes entry 0 of list 1.
    assert_eq!(idx, 0);

    // Offline with the home's cached JWKS: the list is fetched once and cached in the home.
    let out = agent.verify(&token, &[]);
    assert_valid(&out);
    assert_eq!(out.json()["status"]["value"], "valid", "{out}");
    assert_eq!(out.json()["status"]["idx"], idx, "{out}");
    let cached = std::fs::read_dir(agent.cli.home().join("status-lists"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "the list is cached in the home");
    let human = agent
        .cli
        .human()
        .run_stdin(["verify", "--token", "-"], &token);
    assert!(human.success(), "{human}");
    assert!(human.stdout.contains("status: valid"), "{human}");
    let skipped = agent
        .cli
        .human()
        .run_stdin(["verify", "--token", "-", "--no-status"], &token);
    assert!(
        skipped.stdout.contains("status: not checked (--no-status)"),
        "{skipped}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.jwt");
    suspend(&operator, &agent, "suspend");
    within_one_ttl(&agent, &token, &uri, &file, Some("agent_suspended"));
    // The saved list keeps refusing while the server is not asked (air-gapped), whatever happens meanwhile.
    suspend(&operator, &agent, "reactivate");
    assert_invalid(
        &verify(
            &agent.cli,
            &token,
            &["--status-list", file.to_str().unwrap()],
        ),
        "agent_suspended",
    );
    within_one_ttl(&agent, &token, &uri, &file, None);
    // Through the home cache too (no --status-list): within one more ttl.
    std::thread::sleep(Duration::from_secs(TTL));
    assert_valid(&agent.verify(&token, &[]));

    suspend(&operator, &agent, "agent");
    within_one_ttl(&agent, &token, &uri, &file, Some("token_revoked"));
    std::thread::sleep(Duration::from_secs(TTL));
    assert_invalid(
        &verify_with_fresh_list(&agent, &token, &uri, &file),
        "token_revoked",
    );
    assert_invalid(&agent.verify(&token, &[]), "token_revoked");
    // --no-status still verifies the signature alone, and says so.
    let out = agent.verify(&token, &["--no-status"]);
    assert_valid(&out);
}

#[test]
fn a_lapsed_operator_proof_refuses_its_agents_tokens() {
    let world = World::with(|b| {
        b.args([
            "--status-list-ttl",
            &TTL.to_string(),
            "--status-list-size",
            "4",
            "--verification-lifetime",
            "8",
        ])
    });
    let (operator, agent) = world.operator_and_agent();
    // The record goes away: the proof is not renewed when it lapses.
    world.dns.set_txt(&operator.txt_name, Vec::new());
    let token = agent.token("read");
    let (uri, _) = entry(&agent, &token);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.jwt");
    assert_valid(&verify_with_fresh_list(&agent, &token, &uri, &file));
    let started = Instant::now();
    loop {
        let out = verify_with_fresh_list(&agent, &token, &uri, &file);
        if !out.success() {
            assert_invalid(&out, "agent_suspended");
            break;
        }
        assert!(
            started.elapsed() <= Duration::from_secs(8 + TTL + 2),
            "the lapse did not show\n{out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Registrations cross into list 2 (lists of 4); the Python decoder, written from the draft, finds in each
/// served list the statuses our CLI finds, at the same indexes.
#[test]
fn an_independent_decoder_reads_the_same_statuses() {
    let world = world();
    let operator = world.verified_operator("operator", "example.com");
    let mut agents = Vec::new();
    for i in 0..6 {
        let agent = world.active_agent(&format!("agent{i}"), &operator, "read");
        let token = agent.token("read");
        let entry = entry(&agent, &token);
        agents.push((agent, token, entry));
    }
    let expected_entries: Vec<(u64, u64)> = (0..6).map(|n| (n / 4 + 1, n % 4)).collect();
    let entries: Vec<(u64, u64)> = agents
        .iter()
        .map(|(_, _, (uri, idx))| {
            let list: u64 = uri.rsplit('/').next().unwrap().parse().unwrap();
            (list, *idx)
        })
        .collect();
    assert_eq!(entries, expected_entries);
    suspend(&operator, &agents[1].0, "suspend");
    suspend(&operator, &agents[2].0, "agent");
    suspend(&operator, &agents[5].0, "suspend");
    let expected = [0u64, 2, 1, 0, 0, 2];
    std::thread::sleep(Duration::from_secs(TTL + 1));

    let http = Http::new(world.server.url());
    let aggregation = http.get("/status-lists").unwrap();
    let uris: Value = serde_json::from_str(&aggregation.body).unwrap();
    let base = world.server.url();
    assert_eq!(
        uris["status_lists"],
        json!([
            format!("{base}/status-lists/1"),
            format!("{base}/status-lists/2")
        ])
    );
    let jwks: Value =
        serde_json::from_str(&http.get("/.well-known/jwks.json").unwrap().body).unwrap();
    for (list, members) in [(1u64, 0..4usize), (2, 4..6)] {
        let uri = format!("{base}/status-lists/{list}");
        let served = http.get(&format!("/status-lists/{list}")).unwrap();
        assert_eq!(served.status, 200);
        assert_eq!(
            served.header("content-type"),
            Some("application/statuslist+jwt")
        );
        let indexes: Vec<u64> = members.clone().map(|n| agents[n].2.1).collect();
        let decoded = python_decode(&served.body, &jwks, &uri, &indexes);
        assert_eq!(decoded["bits"], 2, "{decoded}");
        assert_eq!(decoded["size"], 4, "{decoded}");
        for n in members {
            let (agent, token, (_, idx)) = &agents[n];
            assert_eq!(
                decoded["statuses"][idx.to_string()],
                expected[n],
                "agent {n}: {decoded}"
            );
            // Our CLI, with the same list saved, agrees.
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("list.jwt");
            std::fs::write(&file, &served.body).unwrap();
            let out = verify(
                &agent.cli,
                token,
                &["--status-list", file.to_str().unwrap()],
            );
            match expected[n] {
                0 => {
                    assert_valid(&out);
                }
                1 => assert_invalid(&out, "token_revoked"),
                _ => assert_invalid(&out, "agent_suspended"),
            }
        }
        // A list of another uri is refused by the decoder too (sub).
        let other = format!("{base}/status-lists/{}", 3 - list);
        let (code, _, stderr) = run_python(&served.body, &jwks, &other, &[0]);
        assert_eq!(code, 1, "{stderr}");
    }
    let _ = AUD;
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_python(token: &str, jwks: &Value, uri: &str, indexes: &[u64]) -> (i32, String, String) {
    #[allow(clippy::disallowed_methods)] // the decoder checks exp against the real clock
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let input = json!({"token": token, "jwks": jwks, "uri": uri, "now": now, "indexes": indexes});
    let mut child = Command::new("python3")
        .arg("tests/python/status_list.py")
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (see SETUP.md)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("No module named"),
        "cryptography missing: run `bash scripts/test.sh` (it installs tests/python/requirements.txt)\n{stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn python_decode(token: &str, jwks: &Value, uri: &str, indexes: &[u64]) -> Value {
    let (code, stdout, stderr) = run_python(token, jwks, uri, indexes);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}
