//! `--seed-agents`: inserts active agents straight into the server's SQLite file while the server is stopped,
//! for cost-growth runs with a million agents (registration over HTTP would take hours on 2 cores). The
//! PostgreSQL twin is [`crate::seed_postgres`]; both share the key derivation thread ([`derive_rows`]).
//!
//! Safe because the `agents` table (schema v6) is plain rows whose only derived state is the status-list entry,
//! taken here with the server's own two statements (the newest list's counter, else a new list of
//! [`STATUS_LIST_SIZE`] entries): the row written here is the one `POST /v1/agents` + `PUT /v1/agents/{did}/scopes`
//! leave behind (status `active`, `allowed_scopes` as a sorted JSON array). The seeder refuses to run on any other
//! schema version.

use std::path::Path;
use std::sync::mpsc;

use anyhow::{Context as _, bail};
use rusqlite::{Connection, params};

use crate::identity::Identities;

/// The schema version this seeder writes rows for (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 8;

/// The size of a status list the seeder starts: the server's default (`--status-list-size`).
pub const STATUS_LIST_SIZE: i64 = 1 << 20;

/// Rows committed per transaction.
const BATCH: u64 = 50_000;

/// Database size around a seeding, in bytes (`page_count * page_size` after a WAL checkpoint).
#[derive(Debug, Clone, Copy)]
pub struct SeedStats {
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn checkpointed_bytes(conn: &Connection) -> anyhow::Result<u64> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(u64::try_from(pages * size)?)
}

/// Inserts agents `range` of `ids` under `operator_id`, active with `scopes`. Key derivation runs on a second
/// thread while this one inserts.
pub fn seed_agents(
    db: &Path,
    ids: &Identities,
    operator_id: &str,
    range: std::ops::Range<u64>,
    scopes: &[&str],
    now: u64,
) -> anyhow::Result<SeedStats> {
    let mut conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        bail!("database schema v{version}; the seeder knows v{SCHEMA_VERSION} only");
    }
    let exists: bool = conn.query_row(
        "SELECT count(*) FROM operators WHERE id = ?1 AND status = 'verified'",
        [operator_id],
        |r| r.get::<_, i64>(0).map(|n| n == 1),
    )?;
    if !exists {
        bail!("operator {operator_id} is not a verified operator of this database");
    }
    let scopes_json = allowed_scopes_json(scopes)?;
    let bytes_before = checkpointed_bytes(&conn)?;
    let now_i64 = i64::try_from(now).context("time out of range")?;

    let (rx, producer) = derive_rows(ids, range.clone());

    let total = range.end - range.start;
    let mut done = 0u64;
    while done < total {
        let txn = conn.transaction()?;
        {
            let mut stmt = txn.prepare_cached(
                "INSERT INTO agents (did, operator_id, public_key, thumbprint, status, allowed_scopes, \
                 created_at, updated_at, revoked_at, status_list, status_index) \
                 VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?6, NULL, ?7, ?8)",
            )?;
            let end = (done + BATCH).min(total);
            while done < end {
                let SeedRow {
                    did,
                    key,
                    thumbprint,
                } = rx.recv().context("key derivation thread stopped")?;
                let (list, index) = allocate_status_entry(&txn)?;
                stmt.execute(params![
                    did,
                    operator_id,
                    &key[..],
                    thumbprint,
                    scopes_json,
                    now_i64,
                    list,
                    index
                ])?;
                done += 1;
            }
        }
        txn.commit()?;
    }
    drop(rx);
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("key derivation thread panicked"))?;
    Ok(SeedStats {
        bytes_before,
        bytes_after: checkpointed_bytes(&conn)?,
    })
}

/// One agent row's derived parts.
pub(crate) struct SeedRow {
    pub did: String,
    pub key: [u8; 32],
    pub thumbprint: String,
}

/// Derives the rows of agents `range` of `ids` on a thread of its own, in order.
pub(crate) fn derive_rows(
    ids: &Identities,
    range: std::ops::Range<u64>,
) -> (mpsc::Receiver<SeedRow>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::sync_channel::<SeedRow>(4096);
    let ids = ids.clone();
    let producer = std::thread::spawn(move || {
        for i in range {
            let agent = ids.agent(i);
            let row = SeedRow {
                did: agent.did.as_str().to_owned(),
                key: *agent.public.as_bytes(),
                thumbprint: agent.public.thumbprint(),
            };
            if tx.send(row).is_err() {
                break;
            }
        }
    });
    (rx, producer)
}

/// `allowed_scopes` as the server stores it: a sorted, deduplicated JSON array.
pub(crate) fn allowed_scopes_json(scopes: &[&str]) -> anyhow::Result<String> {
    let mut sorted: Vec<&str> = scopes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(serde_json::to_string(&sorted)?)
}

/// The next status-list entry, as the server takes it (its `ALLOCATE_STATUS_ENTRY`, else `START_STATUS_LIST`).
fn allocate_status_entry(conn: &Connection) -> anyhow::Result<(i64, i64)> {
    let mut allocate = conn.prepare_cached(
        "UPDATE status_lists SET allocated = allocated + 1 \
         WHERE list = (SELECT max(list) FROM status_lists) AND allocated < size \
         RETURNING list, allocated - 1",
    )?;
    if let Some(row) = allocate
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .next()
    {
        return Ok(row?);
    }
    let list: i64 = conn.query_row(
        "INSERT INTO status_lists (list, size, allocated) \
         SELECT coalesce(max(list), 0) + 1, ?1, 1 FROM status_lists RETURNING list",
        [STATUS_LIST_SIZE],
        |r| r.get(0),
    )?;
    Ok((list, 0))
}

/// Number of rows in `agents`.
pub fn count_agents(db: &Path) -> anyhow::Result<u64> {
    let conn = Connection::open(db)?;
    Ok(conn.query_row("SELECT count(*) FROM agents", [], |r| r.get::<_, i64>(0))? as u64)
}
