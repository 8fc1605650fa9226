//! What only the SQLite store has (the shared contract is in `store_contract`): migrations and WAL
//! on open, refusal of newer schemas and non-database files, durability across SIGKILL, and the
//! one-serving-process-per-file lock with its row cache.

use auth4agent_server::store::{
    AgentStatus, AgentUpdate, OperatorStatus, SqliteStore, Store, StoreError,
};

use crate::store_rows::*;

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth4agent.db");
    (dir, path)
}

#[tokio::test]
async fn open_applies_migrations_and_sets_wal() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 8);
    store.ping().await.unwrap();
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 8);
    drop(conn);

    // Reopening an up-to-date database is a no-op.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 8);
}

#[test]
fn open_refuses_a_newer_schema() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn open_fails_cleanly_on_a_non_database_file() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(_) | StoreError::Unavailable(_)),
        "{err:?}"
    );
}

/// Child half of `acknowledged_write_survives_sigkill`: only does something when run by it.
#[test]
#[ignore = "helper process for acknowledged_write_survives_sigkill"]
fn sigkill_child_writer() {
    let Ok(path) = std::env::var("A4A_SIGKILL_DB") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let mut n = 0u32;
        loop {
            let op = operator(&format!("d{n}.example"), 1);
            store.insert_operator(op.clone()).await.unwrap();
            // Acknowledge only after the write returned.
            println!("ACK {}", op.id);
            n += 1;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    });
}

/// Every write the store acknowledged is present after the writing process is SIGKILLed.
#[tokio::test]
async fn acknowledged_write_survives_sigkill() {
    use std::io::BufRead as _;

    let (_dir, path) = temp_db();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            // Test names are module paths in the one integration-test binary.
            concat!(module_path!(), "::sigkill_child_writer")
                .split_once("::")
                .map_or("sigkill_child_writer", |(_crate, path)| path),
            "--nocapture",
        ])
        .env("A4A_SIGKILL_DB", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.to_owned());
            if acked.len() == 25 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(acked.len(), 25, "child acknowledged writes");

    let store = SqliteStore::open(&path).unwrap();
    for id in &acked {
        assert!(
            store.get_operator(id).await.unwrap().is_some(),
            "acknowledged operator {id} lost"
        );
    }
}

/// Two server instances starting together on a fresh database agree on one active key.

#[tokio::test]
async fn one_serving_process_per_file_and_its_row_cache_sees_every_change() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open_serving(&path).unwrap();
    match SqliteStore::open_serving(&path) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("already served"), "{msg}"),
        other => panic!("a second serving open must be refused: {other:?}"),
    }
    // Tools that do not serve (keys rotate) may still open the file.
    drop(SqliteStore::open(&path).unwrap());

    let (op, ag) = seeded(&store).await;
    // Cached by these reads...
    assert_eq!(
        store.get_agent_with_operator(&ag.did).await.unwrap(),
        Some((ag.clone(), op.clone()))
    );
    // ...and every acknowledged change is visible to the next read.
    let suspended = store
        .update_agent(
            &ag.did,
            AgentStatus::Pending,
            AgentUpdate {
                status: AgentStatus::Suspended,
                allowed_scopes: Default::default(),
                approval_scopes: Default::default(),
                updated_at: NOW + 5,
                revoked_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_agent(&ag.did).await.unwrap().map(|a| a.status),
        Some(AgentStatus::Suspended)
    );
    assert_eq!(store.get_agent(&ag.did).await.unwrap(), Some(suspended));
    let scoped = store
        .update_agent(
            &ag.did,
            AgentStatus::Suspended,
            AgentUpdate {
                status: AgentStatus::Suspended,
                allowed_scopes: auth4agent_protocol::ScopeSet::from_list(["read"]).unwrap(),
                approval_scopes: Default::default(),
                updated_at: NOW + 6,
                revoked_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_agent_with_operator(&ag.did)
            .await
            .unwrap()
            .map(|(a, _)| a),
        Some(scoped)
    );
    store
        .set_operator_verified(&op.id, NOW + 7, NOW + 100)
        .await
        .unwrap();
    assert_eq!(
        store.get_operator(&op.id).await.unwrap().map(|o| o.status),
        Some(OperatorStatus::Verified)
    );
    store.set_operator_unverified(&op.id).await.unwrap();
    assert_eq!(
        store
            .get_agent_with_operator(&ag.did)
            .await
            .unwrap()
            .map(|(_, o)| o.status),
        Some(OperatorStatus::Unverified)
    );

    drop(store);
    // The lock goes with the store.
    drop(SqliteStore::open_serving(&path).unwrap());
}
