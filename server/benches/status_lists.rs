//! The server's side of a Token Status List at scale (issue 16): one list of 1,000,000 agents with 0.1% revoked
//! in a SQLite database, signed on demand and served through the router (`GET /status-lists/1`): once per window
//! (the database query, the 2-bit array, ZLIB, Ed25519), and from the replica's cache within a window.
//!
//! `cargo bench -p auth4agent-server --bench status_lists`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use auth4agent_server::app;
use auth4agent_server::clock::{ManualClock, SharedClock};
use auth4agent_server::config::Config;
use auth4agent_server::dns::DnsVerifier;
use auth4agent_server::store::{SqliteStore, Store};
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

const AGENTS: u64 = 1_000_000;
const NOW: u64 = 1_800_000_000;
const TTL: u64 = 60;

/// Inserts the operator, list 1 and its agents straight into the database (as `bench/src/seed.rs` does; the
/// status list reads only the entry, the agent's status and the operator's proof, so DIDs and keys are
/// placeholders), 1,000 pseudo-random entries (a fixed LCG, as the verifier's bench) revoked.
fn seed(path: &std::path::Path) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO operators (id, domain, public_key, thumbprint, txt_token, status, domain_verified_at, \
         verification_expires_at, created_at) VALUES ('op_bench', 'bench.example.com', ?1, 't', 'x', 'verified', \
         ?2, ?3, ?2)",
        rusqlite::params![vec![1u8; 32], NOW, NOW + 365 * 86_400],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO status_lists (list, size, allocated) VALUES (1, ?1, ?2)",
        rusqlite::params![1u64 << 20, AGENTS],
    )
    .unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO agents (did, operator_id, public_key, thumbprint, status, allowed_scopes, \
                 created_at, updated_at, revoked_at, status_list, status_index) \
                 VALUES (?1, 'op_bench', ?2, 't', ?3, '[\"read\"]', ?4, ?4, NULL, 1, ?5)",
            )
            .unwrap();
        let key = vec![2u8; 32];
        let mut revoked_set = std::collections::BTreeSet::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        while revoked_set.len() < (AGENTS / 1000) as usize {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            revoked_set.insert((x >> 33) % AGENTS);
        }
        for i in 0..AGENTS {
            let revoked = revoked_set.contains(&i);
            insert
                .execute(rusqlite::params![
                    format!("did:agent:bench.example.com:{i:032x}"),
                    key,
                    if revoked { "revoked" } else { "active" },
                    NOW,
                    i
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth4agent.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let started = Instant::now();
    seed(&path);
    println!(
        "seeded {AGENTS} agents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let clock = Arc::new(ManualClock::new(NOW));
    let shared: SharedClock = clock.clone();
    let mut config = Config::new("https://auth.example.com");
    config.rate_limit = 0.0;
    config.status_list_ttl = TTL;
    let (router, _state) = runtime
        .block_on(app::build(
            config,
            store.clone(),
            shared,
            DnsVerifier::new(Vec::new()),
        ))
        .unwrap();
    let get = |router: &axum::Router| {
        let req = Request::builder()
            .uri("/status-lists/1")
            .body(Body::empty())
            .unwrap();
        runtime.block_on(async {
            let resp = router.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            axum::body::to_bytes(resp.into_body(), 1 << 24)
                .await
                .unwrap()
        })
    };
    let body = get(&router);
    let flagged = runtime
        .block_on(store.status_list_flagged(1, NOW))
        .unwrap()
        .len();
    println!(
        "GET /status-lists/1: {} bytes (statuslist+jwt), {flagged} entries not valid",
        body.len()
    );

    let mut group = c.benchmark_group("server_status_list_1m");
    group.sample_size(10);
    group.bench_function("database query (flagged entries)", |b| {
        b.iter(|| {
            runtime
                .block_on(store.status_list_flagged(black_box(1), NOW))
                .unwrap()
        })
    });
    group.bench_function(
        "sign and serve (a new window: query, build, compress, sign)",
        |b| {
            b.iter(|| {
                clock.advance(TTL);
                get(&router)
            })
        },
    );
    group.bench_function("serve (this window's list, cached)", |b| {
        b.iter(|| get(&router))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
