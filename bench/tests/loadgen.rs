//! Runs the real `auth4agent-loadgen` binary against the real `auth4agent-server` (spawned by the load generator
//! itself, with its own loopback DNS server) for a second per mode, and checks the JSON report.

use std::process::Command;

use auth4agent_bench::clock;
use auth4agent_protocol::{KeySet, Verifier};
use serde_json::Value;

fn loadgen(args: &[&str]) -> Value {
    let server = auth4agent_testkit::server_bin();
    let out = Command::new(env!("CARGO_BIN_EXE_auth4agent-loadgen"))
        .arg("--server-bin")
        .arg(&server)
        .args(["--duration", "1", "--warmup", "0.2", "--concurrency", "4"])
        .args(args)
        .output()
        .expect("runs auth4agent-loadgen");
    assert!(
        out.status.success(),
        "loadgen failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

#[test]
fn issuance_with_registered_and_seeded_agents() {
    let r = loadgen(&["--agents", "3", "--seed-agents", "40"]);
    assert_eq!(r["mode"], "issue");
    assert_eq!(r["agents"], 43);
    assert_eq!(r["drive_agents"], 43);
    assert_eq!(r["errors"], 0, "report: {r}");
    assert!(r["requests"].as_u64().unwrap() > 0);
    assert_eq!(
        r["http_requests"].as_u64(),
        r["requests"].as_u64().map(|n| n * 2)
    );
    assert!(r["throughput_per_s"].as_f64().unwrap() > 0.0);
    let lat = &r["latency_ms"];
    assert!(lat["p50"].as_f64().unwrap() <= lat["p99"].as_f64().unwrap());
    assert!(lat["p99"].as_f64().unwrap() <= lat["max"].as_f64().unwrap());
    assert!(r["server_peak_rss_kb"].as_u64().unwrap() > 1000);
    assert!(r["seed_db_bytes_per_agent"].as_f64().unwrap() > 50.0);
    assert_eq!(r["client_threads"], 1);
    assert_eq!(r["client_reconnects"], 0, "report: {r}");
    assert!(r["operations_incl_warmup"].as_u64().unwrap() >= r["requests"].as_u64().unwrap());
    assert!(r["client_cpu_us_per_op"].as_f64().unwrap() > 0.0);
    assert!(r["server_cpu_us_per_op"].as_f64().unwrap() > 0.0);
}

#[test]
fn introspection_of_issued_tokens_is_active() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().to_str().unwrap();
    let r = loadgen(&[
        "--agents",
        "2",
        "--mode",
        "introspect",
        "--tokens",
        "5",
        "--save-token",
        saved,
    ]);
    assert_eq!(r["mode"], "introspect");
    assert_eq!(r["errors"], 0, "report: {r}");
    assert!(r["requests"].as_u64().unwrap() > 0);

    // The saved token verifies offline against the saved JWKS, as `auth4agent verify` will check it.
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let keys = KeySet::from_json(&read("jwks.json")).unwrap();
    let verified = Verifier::new(read("issuer.txt"), "https://api.bench.example")
        .verify(&read("token.jwt"), &keys, clock::unix_time())
        .unwrap();
    assert_eq!(verified.claims().scope, "bench:read");
}

#[test]
fn paced_run_stays_near_its_rate() {
    let r = loadgen(&["--agents", "2", "--rate", "20", "--client-threads", "2"]);
    let got = r["throughput_per_s"].as_f64().unwrap();
    assert!((10.0..=25.0).contains(&got), "paced at 20/s, got {got}/s");
    assert_eq!(r["rate_target_per_s"], 20.0);
    assert_eq!(r["client_threads"], 2);
    assert_eq!(r["errors"], 0, "report: {r}");
}
