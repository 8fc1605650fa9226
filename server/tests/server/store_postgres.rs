//! What only the PostgreSQL store has (the shared contract is in `store_contract`): migrations once
//! across concurrently starting replicas, schema-version and URL checks, password redaction, the
//! schema's CHECK constraints, one background leader at a time (advisory locks), and recovery
//! from killed connections, and TLS by `sslmode` (which also needs `AUTH4AGENT_TEST_DATABASE_CA`).
//!
//! Needs `AUTH4AGENT_TEST_DATABASE_URL` (a `postgres://` URL of a role allowed to create databases;
//! `scripts/postgres.sh start` prints one). Each test works in its own fresh database. Without the
//! variable every test here fails with instructions: they are never silently skipped.

use std::time::Duration;

use auth4agent_server::store::{PostgresStore, Store, StoreError};
use auth4agent_testkit::TestDatabase;

use crate::store_rows::*;

/// A fresh, empty database (the testkit's [`TestDatabase`], dropped at the end of the test) that
/// reads as its URL.
struct FreshDb(TestDatabase);

impl std::ops::Deref for FreshDb {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.url()
    }
}

async fn fresh_db() -> FreshDb {
    FreshDb(TestDatabase::create())
}

async fn open(url: &str) -> PostgresStore {
    PostgresStore::connect(url, 8).await.unwrap()
}

async fn fresh_store() -> (FreshDb, PostgresStore) {
    let url = fresh_db().await;
    let store = open(&url).await;
    (url, store)
}

/// A plain client on `url`, for inspecting or tampering with the schema.
async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let url = fresh_db().await;
    let stores = futures_join(
        (0..4)
            .map(|_| {
                let url = url.to_owned();
                tokio::spawn(async move { PostgresStore::connect(&url, 2).await })
            })
            .collect(),
    )
    .await;
    for store in &stores {
        let store = store.as_ref().unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 8);
        store.ping().await.unwrap();
    }
    let client = raw_client(&url).await;
    let rows = client
        .query("SELECT version FROM schema_version", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 8, "migrations 1 to 8 recorded once each");
    // Reconnecting to an up-to-date database is a no-op.
    let again = open(&url).await;
    assert_eq!(again.schema_version().await.unwrap(), 8);
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn connect_refuses_a_newer_schema_and_bad_urls() {
    let (url, store) = fresh_store().await;
    drop(store);
    raw_client(&url)
        .await
        .execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .await
        .unwrap();
    match PostgresStore::connect(&url, 2).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nothing listens on port 1: a clean error, not a hang.
    assert!(matches!(
        PostgresStore::connect("postgres://postgres@127.0.0.1:1/x?sslmode=disable", 2).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn debug_output_hides_the_password() {
    let url = fresh_db().await;
    let (scheme, rest) = url.split_once("://").unwrap();
    let with_password = match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap();
            format!("{scheme}://{user}:hunter2-secret@{host}")
        }
        None => format!("{scheme}://postgres:hunter2-secret@{rest}"),
    };
    // Trust authentication ignores the password; the store must not show it anywhere.
    let store = open(&with_password).await;
    let shown = format!("{store:?} {}", store.target());
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// One replica at a time leads the background passes; leadership is sticky and passes to another
/// replica when the leader goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_leadership_is_exclusive_and_fails_over() {
    let (url, a) = fresh_store().await;
    let b = open(&url).await;
    let c = open(&url).await;
    assert!(a.try_lead_background().await.unwrap());
    for _ in 0..3 {
        assert!(a.try_lead_background().await.unwrap(), "sticky");
        assert!(!b.try_lead_background().await.unwrap());
        assert!(!c.try_lead_background().await.unwrap());
    }
    // Calling again does not stack the session lock: one unlock (the session ending) frees it.
    let client = raw_client(&url).await;
    let held: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 1);

    drop(a);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let leader = loop {
        let (lb, lc) = (
            b.try_lead_background().await.unwrap(),
            c.try_lead_background().await.unwrap(),
        );
        assert!(!(lb && lc), "two leaders at once");
        if lb || lc {
            break if lb { b.clone() } else { c.clone() };
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nobody took over the background lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(leader.try_lead_background().await.unwrap());
}

/// The store keeps working after the server side kills its connections (a PostgreSQL restart or
/// failover): pooled connections are replaced, the background lock is re-acquired.
#[tokio::test]
async fn store_recovers_from_killed_connections() {
    let (url, store) = fresh_store().await;
    let (_op, ag) = seeded(&store).await;
    assert!(store.try_lead_background().await.unwrap());
    let client = raw_client(&url).await;
    let db = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .await
        .unwrap();
    // The first call on a dead pooled connection may fail; the store must come back by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(found)) = store.get_agent(&ag.did).await {
            assert_eq!(found, ag);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "store did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !store.try_lead_background().await.unwrap_or(false) {
        assert!(
            std::time::Instant::now() < deadline,
            "background lock not re-acquired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_schema_check_constraints_refuse_a_bogus_status() {
    let (_url, store) = fresh_store().await;
    let op = operator("example.com", 1);
    store.insert_operator(op.clone()).await.unwrap();

    // The CHECK constraints of the schema are there too.
    let client = raw_client(&_url).await;
    assert!(
        client
            .execute(
                "UPDATE operators SET status = 'bogus' WHERE id = $1",
                &[&op.id]
            )
            .await
            .is_err()
    );
}

/// The CA that signed the test cluster's TLS certificate (`scripts/postgres.sh ca`), and the unrelated
/// CA beside it.
fn test_cas() -> (String, String) {
    let ca = std::env::var("AUTH4AGENT_TEST_DATABASE_CA").unwrap_or_else(|_| {
        panic!(
            "AUTH4AGENT_TEST_DATABASE_CA is not set: the TLS tests need the CA of the test cluster's certificate \
             (`bash scripts/postgres.sh ca` prints it; `bash scripts/test.sh` sets it)"
        )
    });
    let other = std::path::Path::new(&ca).with_file_name("other-ca.crt");
    (ca, other.display().to_string())
}

/// The test database's URL with `sslmode=disable` replaced by `params`.
fn with_tls(url: &str, params: &str) -> String {
    assert!(url.contains("sslmode=disable"), "{url}");
    url.replace("sslmode=disable", params)
}

#[tokio::test]
async fn tls_modes_connect_verify_and_refuse() {
    let db = fresh_db().await;
    let (ca, other_ca) = test_cas();
    for params in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-ca&sslrootcert={ca}"),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let store = PostgresStore::connect(&with_tls(&db, &params), 2)
            .await
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        assert!(store.schema_version().await.unwrap() > 0, "{params}");
        // The background lock opens its own connection, over TLS too.
        store.try_lead_background().await.unwrap();
    }
    // The certificate names 127.0.0.1 and localhost: verify-full also holds for localhost.
    let by_name = with_tls(&db, &format!("sslmode=verify-full&sslrootcert={ca}"))
        .replace("@127.0.0.1:", "@localhost:");
    PostgresStore::connect(&by_name, 1).await.unwrap();

    // A certificate that does not chain to the given CA is refused, by verify-ca, verify-full and
    // require-with-a-CA alike.
    for params in [
        format!("sslmode=verify-ca&sslrootcert={other_ca}"),
        format!("sslmode=verify-full&sslrootcert={other_ca}"),
        format!("sslmode=require&sslrootcert={other_ca}"),
    ] {
        let refused = PostgresStore::connect(&with_tls(&db, &params), 1).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{params}: {refused:?}"
        );
    }
    // verify-full without sslrootcert uses the public roots, which do not hold the test CA.
    assert!(
        PostgresStore::connect(&with_tls(&db, "sslmode=verify-full"), 1)
            .await
            .is_err()
    );
    assert!(
        PostgresStore::connect(&with_tls(&db, "sslmode=bogus"), 1)
            .await
            .is_err()
    );
    let missing = with_tls(&db, "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt");
    assert!(PostgresStore::connect(&missing, 1).await.is_err());
}
