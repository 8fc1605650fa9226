//! `--seed-agents` with `--database-url`: inserts active agents straight into the server's PostgreSQL database
//! while the server is stopped, the twin of [`crate::seed`] for cost-growth runs on PostgreSQL.
//!
//! The rows are the ones `POST /v1/agents` + `PUT /v1/agents/{did}/scopes` leave behind (schema v8): status
//! `active`, `allowed_scopes` a sorted JSON array, and a status-list entry taken in order from the newest list, a
//! new list of the same size (the server's `--status-list-size`; [`STATUS_LIST_SIZE`] if there is none yet)
//! started when it is full, as the server's `ALLOCATE_STATUS_ENTRY` and
//! `START_STATUS_LIST` do. Inserts fire no trigger: `identity_version` counts updates and deletes only. Each batch
//! of [`BATCH`] agents is one transaction (one `INSERT … SELECT FROM unnest(…)`). The connection is plain TCP
//! (`sslmode=disable`): the bench's cluster listens on loopback only.

use anyhow::{Context as _, bail};
use tokio_postgres::{Client, NoTls};

use crate::identity::Identities;
use crate::seed::{SCHEMA_VERSION, STATUS_LIST_SIZE, SeedRow, allowed_scopes_json, derive_rows};

/// Rows per transaction.
const BATCH: usize = 10_000;

/// Connects to `url` without TLS, the connection driven by a task of the current runtime.
async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("loadgen: PostgreSQL connection: {e}");
        }
    });
    Ok(client)
}

/// The newest status list: its number, size and entries taken.
async fn newest_list(client: &Client) -> anyhow::Result<Option<(i64, i64, i64)>> {
    let row = client
        .query_opt(
            "SELECT list, size, allocated FROM status_lists ORDER BY list DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Inserts agents `range` of `ids` under `operator_id`, active with `scopes`. Returns the database's size
/// (`pg_database_size`) before and after.
pub async fn seed_agents(
    url: &str,
    ids: &Identities,
    operator_id: &str,
    range: std::ops::Range<u64>,
    scopes: &[&str],
    now: u64,
) -> anyhow::Result<crate::seed::SeedStats> {
    let mut client = connect(url).await?;
    let version: i32 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::INT FROM schema_version",
            &[],
        )
        .await?
        .get(0);
    if i64::from(version) != SCHEMA_VERSION {
        bail!("database schema v{version}; the seeder knows v{SCHEMA_VERSION} only");
    }
    let verified: i64 = client
        .query_one(
            "SELECT count(*) FROM operators WHERE id = $1 AND status = 'verified'",
            &[&operator_id],
        )
        .await?
        .get(0);
    if verified != 1 {
        bail!("operator {operator_id} is not a verified operator of this database");
    }
    let scopes_json = allowed_scopes_json(scopes)?;
    let now = i64::try_from(now).context("time out of range")?;
    let bytes_before = database_bytes(&client).await?;

    let (rx, producer) = derive_rows(ids, range.clone());
    let mut rx = Some(rx);
    let mut left = usize::try_from(range.end - range.start)?;
    let mut current = newest_list(&client).await?;
    while left > 0 {
        let want = left.min(BATCH);
        let source = rx.take().context("key derivation channel")?;
        let (source, batch) = tokio::task::spawn_blocking(move || {
            let batch: Vec<SeedRow> = source.iter().take(want).collect();
            (source, batch)
        })
        .await?;
        rx = Some(source);
        if batch.len() != want {
            bail!("key derivation thread stopped");
        }
        let txn = client.transaction().await?;
        let mut lists = Vec::with_capacity(want);
        let mut indexes = Vec::with_capacity(want);
        // Each list this batch takes entries from, with its allocation count after the batch.
        let mut allocated_after: Vec<(i64, i64)> = Vec::new();
        for _ in 0..want {
            let (list, index) = match current {
                Some((list, size, allocated)) if allocated < size => (list, allocated),
                _ => {
                    let (list, size) =
                        current.map_or((1, STATUS_LIST_SIZE), |(l, size, _)| (l + 1, size));
                    txn.execute(
                        "INSERT INTO status_lists (list, size, allocated) VALUES ($1, $2, 0)",
                        &[&list, &size],
                    )
                    .await?;
                    current = Some((list, size, 0));
                    (list, 0)
                }
            };
            if let Some(c) = current.as_mut() {
                c.2 = index + 1;
            }
            match allocated_after.last_mut() {
                Some((l, n)) if *l == list => *n = index + 1,
                _ => allocated_after.push((list, index + 1)),
            }
            lists.push(list);
            indexes.push(index);
        }
        for (list, allocated) in &allocated_after {
            txn.execute(
                "UPDATE status_lists SET allocated = $2 WHERE list = $1",
                &[list, allocated],
            )
            .await?;
        }
        let dids: Vec<&str> = batch.iter().map(|r| r.did.as_str()).collect();
        let keys: Vec<&[u8]> = batch.iter().map(|r| &r.key[..]).collect();
        let thumbprints: Vec<&str> = batch.iter().map(|r| r.thumbprint.as_str()).collect();
        txn.execute(
            "INSERT INTO agents (did, operator_id, public_key, thumbprint, status, allowed_scopes, \
             created_at, updated_at, revoked_at, status_list, status_index) \
             SELECT d, $6, k, t, 'active', $7, $8, $8, NULL, l, i \
             FROM unnest($1::TEXT[], $2::BYTEA[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[]) AS u(d, k, t, l, i)",
            &[
                &dids,
                &keys,
                &thumbprints,
                &lists,
                &indexes,
                &operator_id,
                &scopes_json,
                &now,
            ],
        )
        .await?;
        txn.commit().await?;
        left -= want;
    }
    drop(rx);
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("key derivation thread panicked"))?;
    client.batch_execute("VACUUM ANALYZE agents").await?;
    Ok(crate::seed::SeedStats {
        bytes_before,
        bytes_after: database_bytes(&client).await?,
    })
}

async fn database_bytes(client: &Client) -> anyhow::Result<u64> {
    let bytes: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    Ok(u64::try_from(bytes)?)
}

/// Number of rows in `agents`.
pub async fn count_agents(url: &str) -> anyhow::Result<u64> {
    let client = connect(url).await?;
    let n: i64 = client
        .query_one("SELECT count(*) FROM agents", &[])
        .await?
        .get(0);
    Ok(u64::try_from(n)?)
}
