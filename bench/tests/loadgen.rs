//! Runs the real `auth4agent-loadgen` binary against the real `auth4agent-server` (spawned by the load generator
//! itself, with its own loopback DNS server) for a second or two per mode, and checks the JSON report and the
//! `--report-every`/`--csv` time series; runs `auth4agent-cryptofloor` briefly and checks its JSON.

use std::path::Path;
use std::process::Command;

use auth4agent_bench::clock;
use auth4agent_protocol::{KeySet, Verifier};
use serde_json::Value;

fn loadgen(args: &[&str]) -> Value {
    loadgen_for("1", args)
}

fn loadgen_for(duration: &str, args: &[&str]) -> Value {
    let server = auth4agent_testkit::server_bin();
    let out = Command::new(env!("CARGO_BIN_EXE_auth4agent-loadgen"))
        .arg("--server-bin")
        .arg(&server)
        .args([
            "--duration",
            duration,
            "--warmup",
            "0.2",
            "--concurrency",
            "4",
        ])
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
    assert!(lat["p99"].as_f64().unwrap() <= lat["p999"].as_f64().unwrap());
    assert!(lat["p999"].as_f64().unwrap() <= lat["max"].as_f64().unwrap());
    assert!(r["server_peak_rss_kb"].as_u64().unwrap() > 1000);
    assert!(r["seed_db_bytes_per_agent"].as_f64().unwrap() > 50.0);
    assert_eq!(r["client_threads"], 1);
    assert_eq!(r["client_reconnects"], 0, "report: {r}");
    assert!(r["operations_incl_warmup"].as_u64().unwrap() >= r["requests"].as_u64().unwrap());
    assert!(r["client_cpu_us_per_op"].as_f64().unwrap() > 0.0);
    assert!(r["server_cpu_us_per_op"].as_f64().unwrap() > 0.0);
    assert!((0.0..=100.0).contains(&r["host_steal_pct"].as_f64().unwrap()));
}

/// PostgreSQL: the spawned server runs on a fresh database, and the seeder fills it as the server would, a new
/// status list (of the server's size, 16 here) started whenever the newest is full.
#[test]
fn issuance_on_postgres_with_seeded_agents() {
    let db = auth4agent_testkit::postgres::TestDatabase::create();
    let r = loadgen(&[
        "--database-url",
        db.url(),
        "--server-arg=--status-list-size=16",
        "--agents",
        "3",
        "--seed-agents",
        "40",
    ]);
    assert_eq!(r["agents"], 43);
    assert_eq!(r["drive_agents"], 43);
    assert_eq!(r["errors"], 0, "report: {r}");
    assert!(r["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["db_bytes"], Value::Null, "no SQLite file to measure");
    assert!(r["seed_db_bytes_per_agent"].as_f64().unwrap() > 0.0);

    let lists = psql(
        db.url(),
        "SELECT string_agg(list || ':' || size || ':' || allocated, ',' ORDER BY list) FROM status_lists",
    );
    assert_eq!(lists, "1:16:16,2:16:16,3:16:11");
    let entries = psql(
        db.url(),
        "SELECT count(*) || ' ' || count(DISTINCT (status_list, status_index)) || ' ' || \
         count(*) FILTER (WHERE status = 'active') FROM agents",
    );
    assert_eq!(entries, "43 43 43");
}

/// One value from `sql` on `url`, through `psql` (installed with the test cluster).
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-Atc", sql])
        .output()
        .expect("runs psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
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
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("paced.csv");
    let r = loadgen(&[
        "--agents",
        "2",
        "--rate",
        "20",
        "--client-threads",
        "2",
        "--report-every",
        "0.5",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let got = r["throughput_per_s"].as_f64().unwrap();
    assert!((10.0..=25.0).contains(&got), "paced at 20/s, got {got}/s");
    assert_eq!(r["rate_target_per_s"], 20.0);
    assert_eq!(r["client_threads"], 2);
    assert_eq!(r["errors"], 0, "report: {r}");
    // Two half-second intervals, each near the pace.
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), 2, "rows: {rows:?}");
    for row in &rows {
        assert!((4.0..=40.0).contains(&row["tokens_per_s"]), "row {row:?}");
    }
}

/// The `--csv` file: the header checked, each row as column name → value (empty cells as NaN).
fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header row").split(',').collect();
    assert_eq!(
        header,
        [
            "elapsed_s",
            "tokens_per_s",
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "errors",
            "server_rss_kb",
            "server_cpu_s",
            "db_bytes"
        ]
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "row {line}");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.parse().unwrap_or(f64::NAN)))
                .collect()
        })
        .collect()
}

#[test]
fn report_every_writes_a_time_series() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("series.csv");
    let r = loadgen_for(
        "2",
        &[
            "--agents",
            "3",
            "--mode",
            "client-credentials",
            "--report-every",
            "1",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(r["errors"], 0, "report: {r}");
    let rows = read_csv(&csv);
    assert!(!rows.is_empty() && rows.len() <= 2, "rows: {rows:?}");
    let mut previous = 0.0;
    let mut tokens = 0.0;
    for row in &rows {
        assert!(row["elapsed_s"] > previous, "row {row:?}");
        tokens += row["tokens_per_s"] * (row["elapsed_s"] - previous);
        previous = row["elapsed_s"];
        assert!(row["tokens_per_s"] > 0.0, "row {row:?}");
        assert!(row["p50_ms"] > 0.0, "row {row:?}");
        assert!(row["p50_ms"] <= row["p99_ms"] && row["p99_ms"] <= row["p999_ms"]);
        assert_eq!(row["errors"], 0.0);
        assert!(row["server_rss_kb"] > 1000.0, "row {row:?}");
        assert!(row["server_cpu_s"] > 0.0, "row {row:?}");
        assert!(row["db_bytes"] > 4096.0, "row {row:?}");
    }
    assert!((1.9..=2.2).contains(&previous), "last row at {previous} s");
    // The rows add up to about the run's successful operations.
    let requests = r["requests"].as_f64().unwrap();
    assert!(
        (0.8 * requests..=1.2 * requests).contains(&tokens),
        "{tokens} in the rows vs {requests} in the report"
    );
}

#[test]
fn cryptofloor_reports_verify_plus_sign() {
    let out = Command::new(env!("CARGO_BIN_EXE_auth4agent-cryptofloor"))
        .args(["--seconds", "0.2"])
        .output()
        .expect("runs auth4agent-cryptofloor");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
    for k in ["verify_per_s", "verify_us", "sign_per_s", "sign_us"] {
        assert!(f(k) > 0.0, "{k} in {r}");
    }
    assert!(
        (f("verify_per_s") * f("verify_us") / 1e6 - 1.0).abs() < 0.01,
        "{r}"
    );
    assert!(
        (f("floor_us_per_token") - f("verify_us") - f("sign_us")).abs() < 0.02,
        "{r}"
    );
    assert!(
        (f("floor_cpu_us_per_token") - f("verify_cpu_us") - f("sign_cpu_us")).abs() < 0.02,
        "{r}"
    );
    // CPU time never runs ahead of the wall clock beyond one 10 ms tick over each 0.2 s loop.
    for (cpu, wall) in [("verify_cpu_us", "verify_us"), ("sign_cpu_us", "sign_us")] {
        assert!(
            f(cpu) > 0.0 && f(cpu) <= f(wall) * 1.1,
            "{cpu} vs {wall} in {r}"
        );
    }
    // Proof and token signing inputs of realistic length.
    assert!((300.0..2000.0).contains(&f("verify_message_bytes")), "{r}");
    assert!((300.0..2000.0).contains(&f("sign_message_bytes")), "{r}");
}
