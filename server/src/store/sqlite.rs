//! SQLite backend of [`Store`]: one database file in WAL mode with `synchronous=FULL` (a
//! committed write survives a crash or power loss), built-in migrations keyed on
//! `PRAGMA user_version`, one writer thread plus a small pool of read-only connections.
//!
//! Writes use group commit: the writer thread takes every write queued while the previous commit
//! was syncing (and, under heavy load, for a further [`LINGER`]), runs each in its own savepoint
//! (a failing write rolls back only itself), commits them in one transaction — one fsync for the
//! batch — and only then answers each caller. A write is acknowledged only after the commit that
//! made it durable. Point lookups by key run inline on the caller's thread (microseconds, never
//! blocked by the writer under WAL); scans run on `tokio::task::spawn_blocking`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use auth4agent_protocol::{Did, Domain, PublicKey};
use rusqlite::{Connection, ErrorCode, OpenFlags, Row, TransactionBehavior, params};

use super::checkpoint;
use super::identities::IdentityCache;
use super::rows::{self, Columns, opt_text_column, scopes_column};
use super::sql;
use super::{
    Agent, AgentStatus, AgentUpdate, AuditEvent, ConsoleLink, ConsoleSession, DeviceAuthorization,
    DeviceDecision, DeviceStatus, FlaggedEntry, IdentityVersion, Operator, OperatorRecovery,
    PurgeStats, RememberedGrant, RevokedToken, SigningKeyRecord, StatusEntry, StatusListInfo,
    Store, StoreError, StoreFuture, StoredPasskey, UnixTime, WebauthnCeremony, classify_agent_miss,
};

/// Schema migrations; entry `i` moves the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_device_authorization.sql"),
    include_str!("migrations/0003_status_lists.sql"),
    include_str!("migrations/0004_token_cutoffs.sql"),
    include_str!("migrations/0005_registration_approvals.sql"),
    include_str!("migrations/0006_console.sql"),
    include_str!("migrations/0007_key_lifecycle.sql"),
    include_str!("migrations/0008_stateless_challenges.sql"),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_IDLE_READERS: usize = 8;
/// WAL pages past which the writer checkpoints itself (SQLite's default is 1,000): the checkpoint
/// thread has copied nearly all of them by then.
const WAL_AUTOCHECKPOINT: i64 = 8_192;
/// Bytes the write-ahead log is cut back to when it restarts after growing past them.
const WAL_SIZE_LIMIT: i64 = 64 << 20;
/// Most writes committed together.
const MAX_BATCH: usize = 256;
/// How long the writer waits for more writes before a commit, when writes arrive fast enough for
/// the wait to gather at least two more (8,000/s): each commit's fsync and WAL frames then serve
/// more writes. Below that rate it commits at once, so a lightly loaded server's latency is
/// unchanged. 500 µs saved more CPU but lengthened the tail at half load (BENCHMARKS.md).
const LINGER: Duration = Duration::from_micros(250);

/// Called once the batch holding a write has committed (or failed to).
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A queued write: runs on the writer connection inside its savepoint; says whether it succeeded.
type Job = Box<dyn FnOnce(&mut Connection) -> (bool, Deliver) + Send>;

/// The SQLite store. Cheap to clone (shared inner state).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// Agent and operator rows, only while this process holds the serving lock.
    identities: Option<Arc<IdentityCache>>,
    /// The exclusive lock on the database file held while serving (see [`SqliteStore::open_serving`]).
    _serving_lock: Option<File>,
    /// Copies the write-ahead log into the database file, off the writer's path.
    _checkpointer: checkpoint::Checkpointer,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// One page of an operator's agents by `sql` (a `LIST_*AGENTS_PAGE` statement: operator, cursor, limit).
    fn agents_page(
        &self,
        sql: &'static str,
        operator_id: &str,
        after: Option<(UnixTime, Did)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Agent>> {
        let operator_id = operator_id.to_owned();
        let (created_at, did) = after.map_or((-1, String::new()), |(t, d)| {
            (i64::try_from(t).unwrap_or(i64::MAX), d.as_str().to_owned())
        });
        self.read(move |conn| {
            query_all(
                conn,
                sql,
                params![operator_id, created_at, did, limit],
                |r| rows::agent(r),
            )
        })
    }

    /// Opens (creating if needed) the database file and applies pending migrations in one
    /// transaction. Blocking: call before serving, or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), None)
    }

    /// [`Self::open`] for the one server process that serves this file: takes an exclusive lock
    /// on `<file>.lock` (a second server on the same file is refused, not left to read stale rows) and then
    /// caches agent and operator rows in memory, which is sound only because every change to
    /// them now goes through this process. Other tools (`keys rotate`, `sqlite3`) may still open
    /// the file; a change made to agents or operators by hand needs a server restart.
    pub fn open_serving(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        // A separate lock file: closing any descriptor of the database file itself would drop
        // SQLite's own POSIX locks on it.
        let lock_path = lock_path(path);
        create_private(&lock_path)?;
        let lock = File::open(&lock_path)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => StoreError::Unavailable(format!(
                "{} is already served by another auth4agent-server process (SQLite serves one process; \
                 use PostgreSQL for several replicas)",
                path.display()
            )),
            std::fs::TryLockError::Error(e) => {
                StoreError::Unavailable(format!("cannot lock {}: {e}", path.display()))
            }
        })?;
        Self::open_with(path, Some(lock))
    }

    fn open_with(path: &Path, serving_lock: Option<File>) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        create_private(&path)?;
        let mut writer = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(map_err)?;
        configure(&writer)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "cannot enable WAL journal mode (got {mode})"
            )));
        }
        migrate(&mut writer)?;
        // The writer checkpoints only as a backstop (see checkpoint.rs); a log that grew is cut back when
        // it restarts.
        writer
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)
            .and_then(|()| writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT))
            .map_err(map_err)?;
        let checkpointer = checkpoint::start(&path, BUSY_TIMEOUT)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: jobs,
                readers: Mutex::new(Vec::new()),
                identities: serving_lock
                    .is_some()
                    .then(|| Arc::new(IdentityCache::default())),
                _serving_lock: serving_lock,
                _checkpointer: checkpointer,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version in force (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        open_reader(&self.inner.path)?
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(map_err)
    }

    /// Queues `f` for the writer thread; resolves once the batch holding it has committed.
    fn write<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_with(None, f)
    }

    /// [`Self::write`] for a change to agents or operators: the identity cache is invalidated
    /// after the commit and before the caller hears of it.
    fn write_identity<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_with(self.inner.identities.clone(), f)
    }

    fn write_with<T, F>(
        &self,
        invalidate: Option<Arc<IdentityCache>>,
        f: F,
    ) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued_at = Instant::now();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit| {
                crate::metrics::record_store("sqlite", "write", queued_at.elapsed());
                if let Some(cache) = invalidate {
                    cache.invalidate();
                }
                let _ = tx.send(match result {
                    Ok(value) => commit.map(|()| value),
                    Err(e) => Err(e),
                });
            });
            (ok, deliver)
        });
        let queued = self.inner.writer.send(job).is_ok();
        Box::pin(async move {
            if !queued {
                return Err(StoreError::Unavailable(
                    "the writer thread has stopped".into(),
                ));
            }
            rx.await
                .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?
        })
    }

    /// Runs a point lookup `f` at once, on the calling thread, on a pooled read-only connection.
    /// An indexed lookup by key takes microseconds and never waits on the writer (WAL), which is
    /// less than the two thread hand-offs of the blocking pool; scans use [`Self::read`].
    fn lookup<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let started = Instant::now();
        let result = with_reader(&self.inner, f);
        crate::metrics::record_store("sqlite", "read", started.elapsed());
        Box::pin(std::future::ready(result))
    }

    /// An agent row, from the identity cache when serving.
    fn agent(&self, did: &Did) -> Result<Option<Agent>, StoreError> {
        let Some(cache) = &self.inner.identities else {
            return with_reader(&self.inner, |conn| get_agent_row(conn, did));
        };
        let ticket = match cache.agent(did.as_str()) {
            Ok(agent) => return Ok(Some(agent)),
            Err(ticket) => ticket,
        };
        let agent = with_reader(&self.inner, |conn| get_agent_row(conn, did))?;
        cache.fill(ticket, agent.as_ref(), None);
        Ok(agent)
    }

    /// An operator row, from the identity cache when serving.
    fn operator(&self, id: &str) -> Result<Option<Operator>, StoreError> {
        let Some(cache) = &self.inner.identities else {
            return with_reader(&self.inner, |conn| get_operator_row(conn, id));
        };
        let ticket = match cache.operator(id) {
            Ok(op) => return Ok(Some(op)),
            Err(ticket) => ticket,
        };
        let op = with_reader(&self.inner, |conn| get_operator_row(conn, id))?;
        cache.fill(ticket, None, op.as_ref());
        Ok(op)
    }

    /// Runs `f` on a pooled read-only connection on the blocking pool.
    fn read<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let started = Instant::now();
            let result = with_reader(&inner, f);
            crate::metrics::record_store("sqlite", "read", started.elapsed());
            result
        })
    }
}

/// Runs `f` on an idle reader connection (opening one if none is idle), then returns it to the pool.
fn with_reader<T>(
    inner: &Inner,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let pooled = lock(&inner.readers)?.pop();
    let conn = match pooled {
        Some(conn) => conn,
        None => open_reader(&inner.path)?,
    };
    let result = f(&conn);
    let mut readers = lock(&inner.readers)?;
    if readers.len() < MAX_IDLE_READERS {
        readers.push(conn);
    }
    result
}

/// The writer thread: commits queued writes in batches until every sender is gone.
fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    let mut pace = CommitPace::default();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        drain(&queue, &mut batch);
        if batch.len() < MAX_BATCH && pace.worth_lingering(batch.len(), Instant::now()) {
            std::thread::sleep(LINGER);
            drain(&queue, &mut batch);
        }
        // Writes queued from here on are the next batch's.
        pace.took(batch.len(), Instant::now());
        if control(&conn, "BEGIN IMMEDIATE").is_err() {
            // Cannot group: run each write in its own implicit transaction.
            for job in batch {
                let (_, deliver) = job(&mut conn);
                deliver(Ok(()));
            }
            continue;
        }
        let mut delivers = Vec::with_capacity(batch.len());
        for job in batch {
            let savepoint = control(&conn, "SAVEPOINT job");
            let (ok, deliver) = job(&mut conn);
            if savepoint.is_ok() {
                let end = if ok {
                    control(&conn, "RELEASE job")
                } else {
                    control(&conn, "ROLLBACK TO job").and_then(|()| control(&conn, "RELEASE job"))
                };
                if let Err(e) = end {
                    tracing::error!(error = %e, "savepoint release failed");
                }
            }
            delivers.push(deliver);
        }
        let commit = control(&conn, "COMMIT");
        if commit.is_err() {
            let _ = control(&conn, "ROLLBACK");
        }
        for deliver in delivers {
            deliver(commit.clone());
        }
    }
}

/// Adds queued writes to `batch` until it is full or the queue is empty.
fn drain(queue: &mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// The writer's last two batches: when it took them and how many writes the last one held. The
/// writes queued since the one before last give their arrival rate over about two commits.
#[derive(Default)]
struct CommitPace {
    previous: Option<Instant>,
    last: Option<(Instant, usize)>,
}

impl CommitPace {
    fn took(&mut self, writes: usize, now: Instant) {
        self.previous = self.last.map(|(at, _)| at);
        self.last = Some((now, writes));
    }

    /// Whether, with `gathered` writes queued since the last batch was taken, waiting [`LINGER`]
    /// would gather at least two more into this commit.
    fn worth_lingering(&self, gathered: usize, now: Instant) -> bool {
        let (Some(since), Some((_, last))) = (self.previous, self.last) else {
            return false;
        };
        let writes = u32::try_from(last + gathered).unwrap_or(u32::MAX);
        LINGER.saturating_mul(writes) >= now.duration_since(since).saturating_mul(2)
    }
}

/// `<database>.lock`, beside the database file.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Runs a transaction-control statement through the statement cache (the writer runs several per
/// batch; `execute_batch` would parse each one every time).
fn control(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(map_err)
}

fn blocking<T, F>(f: F) -> StoreFuture<'static, T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
    })
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Unavailable("storage connection poisoned".into()))
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(map_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    configure(&conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let version: u32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)?;
    let known = MIGRATIONS.len();
    if version as usize > known {
        return Err(StoreError::Corrupt(format!(
            "database schema version {version} is newer than this server ({known})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(map_err)?;
        tx.pragma_update(None, "user_version", i + 1)
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

/// Creates the database file readable by its owner only (it holds the signing keys); SQLite gives its
/// `-wal` and `-shm` files the same mode. An existing file keeps the mode its owner chose.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Maps a SQLite error to the store's categories.
fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(err, msg) => match err.code {
            ErrorCode::ConstraintViolation => {
                if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                    StoreError::NotFound
                } else {
                    StoreError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()))
                }
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Unavailable(e.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl Columns for Row<'_> {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.get(column).map_err(map_err)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.get(column).map_err(map_err)
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.get(column).map_err(map_err)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.get(column).map_err(map_err)
    }
}

/// Runs `sql` and decodes its first row, if any, with `decode` (one of [`rows`]).
fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let mut found = stmt.query(params).map_err(map_err)?;
    found.next().map_err(map_err)?.map(decode).transpose()
}

/// Runs `sql` and decodes every row with `decode` (one of [`rows`]).
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let mut found = stmt.query(params).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(row) = found.next().map_err(map_err)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a statement that returns no rows; the number of rows it changed.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(map_err)
}

fn insert_audit(conn: &Connection, e: &AuditEvent) -> Result<(), StoreError> {
    exec(
        conn,
        sql::INSERT_AUDIT,
        params![e.at, e.actor, e.action, e.subject, e.detail],
    )
    .map(drop)
}

fn get_operator_row(conn: &Connection, id: &str) -> Result<Option<Operator>, StoreError> {
    query_opt(conn, sql::GET_OPERATOR, [id], |r| rows::operator(r))
}

fn get_agent_row(conn: &Connection, did: &Did) -> Result<Option<Agent>, StoreError> {
    query_opt(conn, sql::GET_AGENT, [did.as_str()], |r| rows::agent(r))
}

impl Store for SqliteStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.read(|conn| {
            // SQLite only: reads the schema page, so the probe touches the file.
            conn.prepare_cached("SELECT count(*) FROM sqlite_schema")
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|_| ())
                .map_err(map_err)
        })
    }

    fn try_lead_background(&self) -> StoreFuture<'_, bool> {
        // One database file, one server: it always leads.
        Box::pin(async { Ok(true) })
    }

    fn insert_operator(&self, op: Operator) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            exec(
                conn,
                sql::INSERT_OPERATOR,
                params![
                    op.id,
                    op.domain.as_str(),
                    &op.public_key.as_bytes()[..],
                    op.thumbprint,
                    op.txt_token,
                    op.status.as_str(),
                    op.domain_verified_at,
                    op.verification_expires_at,
                    op.created_at,
                ],
            )
            .map(drop)
        })
    }

    fn get_operator(&self, id: &str) -> StoreFuture<'_, Option<Operator>> {
        Box::pin(std::future::ready(self.operator(id)))
    }

    fn get_operator_by_domain(&self, domain: &Domain) -> StoreFuture<'_, Option<Operator>> {
        self.lookup(|conn| {
            // Per backend: PostgreSQL breaks ties on its `seq` column (SQLite's order is as before).
            query_opt(
                conn,
                concat!(
                    "SELECT ",
                    sql::operator_columns!(),
                    " FROM operators WHERE domain = ?1 \
                     ORDER BY status = 'verified' DESC, created_at LIMIT 1"
                ),
                [domain.as_str()],
                |r| rows::operator(r),
            )
        })
    }

    fn set_operator_verified(
        &self,
        id: &str,
        verified_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, Operator> {
        let id = id.to_owned();
        self.write_identity(move |conn| {
            exec(conn, sql::RELEASE_LAPSED_DOMAIN, params![id, verified_at])?;
            query_opt(
                conn,
                sql::SET_OPERATOR_VERIFIED,
                params![verified_at, expires_at, id],
                |r| rows::operator(r),
            )?
            .ok_or(StoreError::NotFound)
        })
    }

    fn start_operator_recovery(
        &self,
        recovery: OperatorRecovery,
    ) -> StoreFuture<'_, OperatorRecovery> {
        self.write(move |conn| {
            query_opt(
                conn,
                sql::START_OPERATOR_RECOVERY,
                params![
                    recovery.operator_id,
                    recovery.thumbprint,
                    &recovery.public_key.as_bytes()[..],
                    recovery.txt_token,
                    recovery.created_at,
                    recovery.expires_at
                ],
                |r| rows::operator_recovery(r),
            )?
            .ok_or(StoreError::NotFound)
        })
    }

    fn count_operator_recoveries(&self, operator_id: &str, now: UnixTime) -> StoreFuture<'_, u64> {
        let operator_id = operator_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(sql::COUNT_OPERATOR_RECOVERIES)
                .and_then(|mut s| s.query_row(params![operator_id, now], |r| r.get::<_, i64>(0)))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(map_err)
        })
    }

    fn get_operator_recovery(
        &self,
        operator_id: &str,
        thumbprint: &str,
    ) -> StoreFuture<'_, Option<OperatorRecovery>> {
        let (operator_id, thumbprint) = (operator_id.to_owned(), thumbprint.to_owned());
        self.read(move |conn| {
            query_opt(
                conn,
                sql::GET_OPERATOR_RECOVERY,
                params![operator_id, thumbprint],
                |r| rows::operator_recovery(r),
            )
        })
    }

    fn complete_operator_recovery(
        &self,
        operator_id: &str,
        thumbprint: &str,
        verified_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, Operator> {
        let (id, thumbprint) = (operator_id.to_owned(), thumbprint.to_owned());
        self.write_identity(move |conn| {
            let tx = conn.savepoint().map_err(map_err)?;
            exec(&tx, sql::RELEASE_LAPSED_DOMAIN, params![id, verified_at])?;
            let op = query_opt(
                &tx,
                sql::COMPLETE_OPERATOR_RECOVERY,
                params![id, thumbprint, verified_at, expires_at],
                |r| rows::operator(r),
            )?
            .ok_or(StoreError::NotFound)?;
            exec(&tx, sql::DELETE_OPERATOR_RECOVERIES, params![id])?;
            tx.commit().map_err(map_err)?;
            Ok(op)
        })
    }

    fn change_operator_key(
        &self,
        id: &str,
        old_thumbprint: &str,
        new_key: PublicKey,
    ) -> StoreFuture<'_, Operator> {
        let (id, old_thumbprint) = (id.to_owned(), old_thumbprint.to_owned());
        self.write_identity(move |conn| {
            query_opt(
                conn,
                sql::CHANGE_OPERATOR_KEY,
                params![
                    &new_key.as_bytes()[..],
                    new_key.thumbprint(),
                    id,
                    old_thumbprint
                ],
                |r| rows::operator(r),
            )?
            .ok_or(StoreError::NotFound)
        })
    }

    fn set_operator_unverified(&self, id: &str) -> StoreFuture<'_, Operator> {
        let id = id.to_owned();
        self.write_identity(move |conn| {
            query_opt(conn, sql::SET_OPERATOR_UNVERIFIED, [&id], |r| {
                rows::operator(r)
            })?
            .ok_or(StoreError::NotFound)
        })
    }

    fn list_operators_due_for_reverification(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Operator>> {
        self.read(move |conn| {
            // Per backend: PostgreSQL breaks ties on its `seq` column.
            query_all(
                conn,
                concat!(
                    "SELECT ",
                    sql::operator_columns!(),
                    " FROM operators WHERE status = 'verified' \
                     AND verification_expires_at <= ?1 ORDER BY verification_expires_at LIMIT ?2"
                ),
                params![now, limit],
                |r| rows::operator(r),
            )
        })
    }

    fn insert_agent(&self, mut agent: Agent, list_size: u64) -> StoreFuture<'_, Agent> {
        self.write(move |conn| {
            // The writer's savepoint makes the allocation and the insert one change.
            let entry = allocate_status_entry(conn, list_size)?;
            exec(
                conn,
                sql::INSERT_AGENT,
                params![
                    agent.did.as_str(),
                    agent.operator_id,
                    &agent.public_key.as_bytes()[..],
                    agent.thumbprint,
                    agent.status.as_str(),
                    scopes_column(&agent.allowed_scopes),
                    agent.created_at,
                    agent.updated_at,
                    agent.revoked_at,
                    scopes_column(&agent.approval_scopes),
                    entry.list,
                    entry.index,
                ],
            )?;
            agent.status_entry = Some(entry);
            Ok(agent)
        })
    }

    fn get_agent(&self, did: &Did) -> StoreFuture<'_, Option<Agent>> {
        Box::pin(std::future::ready(self.agent(did)))
    }

    fn get_agent_with_operator(&self, did: &Did) -> StoreFuture<'_, Option<(Agent, Operator)>> {
        let both = self.agent(did).and_then(|agent| match agent {
            None => Ok(None),
            Some(agent) => Ok(self.operator(&agent.operator_id)?.map(|op| (agent, op))),
        });
        Box::pin(std::future::ready(both))
    }

    fn list_agents(&self, operator_id: &str) -> StoreFuture<'_, Vec<Agent>> {
        let operator_id = operator_id.to_owned();
        self.read(move |conn| query_all(conn, sql::LIST_AGENTS, [operator_id], |r| rows::agent(r)))
    }

    fn list_agents_page(
        &self,
        operator_id: &str,
        after: Option<(UnixTime, Did)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Agent>> {
        self.agents_page(sql::LIST_AGENTS_PAGE, operator_id, after, limit)
    }

    fn list_revoked_agents_page(
        &self,
        operator_id: &str,
        after: Option<(UnixTime, Did)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Agent>> {
        self.agents_page(sql::LIST_REVOKED_AGENTS_PAGE, operator_id, after, limit)
    }

    fn count_pending_agents(&self, operator_id: &str) -> StoreFuture<'_, u64> {
        let operator_id = operator_id.to_owned();
        self.lookup(move |conn| {
            conn.prepare_cached(sql::COUNT_PENDING_AGENTS)
                .and_then(|mut s| s.query_row([operator_id], |r| r.get::<_, i64>(0)))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(map_err)
        })
    }

    fn purge_pending_agents(&self, before: UnixTime) -> StoreFuture<'_, u64> {
        self.write_identity(move |conn| {
            exec(conn, sql::PURGE_PENDING_AGENTS, [before]).map(|n| n as u64)
        })
    }

    fn update_agent(
        &self,
        did: &Did,
        expected: AgentStatus,
        update: AgentUpdate,
    ) -> StoreFuture<'_, Agent> {
        let did = did.clone();
        self.write_identity(move |conn| {
            let updated = query_opt(
                conn,
                sql::UPDATE_AGENT,
                params![
                    update.status.as_str(),
                    scopes_column(&update.allowed_scopes),
                    scopes_column(&update.approval_scopes),
                    update.updated_at,
                    update.revoked_at,
                    did.as_str(),
                    expected.as_str(),
                ],
                |r| rows::agent(r),
            )?;
            match updated {
                Some(agent) => Ok(agent),
                None => Err(classify_agent_miss(get_agent_row(conn, &did)?)),
            }
        })
    }

    fn list_status_lists(&self) -> StoreFuture<'_, Vec<StatusListInfo>> {
        self.read(|conn| query_all(conn, sql::LIST_STATUS_LISTS, [], |r| rows::status_list(r)))
    }

    fn get_status_list(&self, list: u64) -> StoreFuture<'_, Option<StatusListInfo>> {
        self.lookup(move |conn| {
            query_opt(conn, sql::GET_STATUS_LIST, [list], |r| rows::status_list(r))
        })
    }

    fn status_list_flagged(&self, list: u64, now: UnixTime) -> StoreFuture<'_, Vec<FlaggedEntry>> {
        self.read(move |conn| {
            query_all(conn, sql::STATUS_LIST_FLAGGED, params![list, now], |r| {
                rows::flagged_entry(r)
            })
        })
    }

    fn server_secret(&self, name: &str, candidate: Vec<u8>) -> StoreFuture<'_, Vec<u8>> {
        let name = name.to_owned();
        self.write(move |conn| {
            exec(conn, sql::INSERT_SERVER_SECRET, params![name, candidate])?;
            query_opt(conn, sql::GET_SERVER_SECRET, [&name], |r| r.bytes("value"))?
                .ok_or(StoreError::NotFound)
        })
    }

    fn redeem_challenge(
        &self,
        id: &str,
        expires_at: UnixTime,
        event: AuditEvent,
        // This process makes every change to agents and operators (the serving lock): the rows an
        // issuance read are current.
        _read_at: IdentityVersion,
    ) -> StoreFuture<'_, ()> {
        let id = id.to_owned();
        self.write(move |conn| {
            // The primary key is the single point of truth for single use.
            if exec(
                conn,
                sql::INSERT_REDEEMED_CHALLENGE,
                params![id, expires_at],
            )? != 1
            {
                return Err(StoreError::AlreadyUsed);
            }
            insert_audit(conn, &event)
        })
    }

    fn purge_redeemed_challenges(&self, before: UnixTime, batch: u32) -> StoreFuture<'_, u64> {
        self.write(move |conn| {
            exec(conn, sql::PURGE_REDEEMED_CHALLENGES, params![before, batch]).map(|n| n as u64)
        })
    }

    fn consume_request_jti(
        &self,
        signer: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, ()> {
        let signer = signer.to_owned();
        let jti = jti.to_owned();
        self.write(move |conn| {
            match exec(
                conn,
                sql::INSERT_REQUEST_JTI,
                params![signer, jti, expires_at],
            )? {
                1 => Ok(()),
                _ => Err(StoreError::Replayed),
            }
        })
    }

    fn redeem_client_assertion(
        &self,
        signer: &str,
        jti: &str,
        expires_at: UnixTime,
        event: AuditEvent,
        _read_at: IdentityVersion,
    ) -> StoreFuture<'_, ()> {
        let signer = signer.to_owned();
        let jti = jti.to_owned();
        self.write(move |conn| {
            let inserted = exec(
                conn,
                sql::INSERT_REQUEST_JTI,
                params![signer, jti, expires_at],
            )?;
            if inserted != 1 {
                return Err(StoreError::Replayed);
            }
            insert_audit(conn, &event)
        })
    }

    fn insert_device_authorization(
        &self,
        a: DeviceAuthorization,
        event: AuditEvent,
    ) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            exec(
                conn,
                sql::INSERT_DEVICE_AUTHORIZATION,
                params![
                    a.device_code_hash,
                    a.user_code,
                    a.did.as_str(),
                    a.operator_id,
                    scopes_column(&a.scopes),
                    a.resource,
                    opt_text_column(&a.binding_message),
                    a.status.as_str(),
                    scopes_column(&a.granted_scopes),
                    opt_text_column(&a.decided_by),
                    a.interval,
                    a.last_poll_at,
                    a.slow_down_at,
                    a.created_at,
                    a.expires_at,
                    a.decided_at,
                    a.kind.as_str(),
                    opt_text_column(&a.agent_name),
                ],
            )?;
            insert_audit(conn, &event)
        })
    }

    fn get_device_authorization(
        &self,
        user_code: &str,
    ) -> StoreFuture<'_, Option<DeviceAuthorization>> {
        self.lookup(|conn| {
            query_opt(
                conn,
                sql::DEVICE_AUTHORIZATION_BY_USER_CODE,
                [user_code],
                |r| rows::device_authorization(r),
            )
        })
    }

    fn get_registration_request(&self, did: &Did) -> StoreFuture<'_, Option<DeviceAuthorization>> {
        let did = did.clone();
        self.read(move |conn| {
            query_opt(
                conn,
                sql::REGISTRATION_REQUEST_OF_AGENT,
                [did.as_str()],
                |r| rows::device_authorization(r),
            )
        })
    }

    fn poll_device_authorization(
        &self,
        device_code_hash: &str,
        did: &Did,
        now: UnixTime,
    ) -> StoreFuture<'_, Option<DeviceAuthorization>> {
        let hash = device_code_hash.to_owned();
        let did = did.clone();
        self.write(move |conn| {
            query_opt(
                conn,
                sql::POLL_DEVICE_AUTHORIZATION,
                params![now, hash, did.as_str()],
                |r| rows::device_authorization(r),
            )
        })
    }

    fn redeem_device_code(
        &self,
        device_code_hash: &str,
        did: &Did,
        now: UnixTime,
        event: AuditEvent,
    ) -> StoreFuture<'_, ()> {
        let hash = device_code_hash.to_owned();
        let did = did.clone();
        self.write(move |conn| {
            if exec(
                conn,
                sql::REDEEM_DEVICE_CODE,
                params![now, hash, did.as_str()],
            )? != 1
            {
                let row = query_opt(conn, sql::DEVICE_AUTHORIZATION_BY_HASH, [&hash], |r| {
                    rows::device_authorization(r)
                })?;
                return Err(super::classify_device_miss(row, &did, now));
            }
            insert_audit(conn, &event)
        })
    }

    fn list_pending_device_authorizations(
        &self,
        operator_id: &str,
        now: UnixTime,
        after: Option<(UnixTime, String)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<DeviceAuthorization>> {
        let operator_id = operator_id.to_owned();
        let (created_at, code) = after.map_or((-1, String::new()), |(t, c)| {
            (i64::try_from(t).unwrap_or(i64::MAX), c)
        });
        self.read(move |conn| {
            query_all(
                conn,
                sql::LIST_PENDING_DEVICE_AUTHORIZATIONS,
                params![operator_id, now, created_at, code, limit],
                |r| rows::device_authorization(r),
            )
        })
    }

    fn decide_device_authorization(
        &self,
        operator_id: &str,
        user_code: &str,
        decision: DeviceDecision,
        now: UnixTime,
        event: AuditEvent,
    ) -> StoreFuture<'_, DeviceAuthorization> {
        let operator_id = operator_id.to_owned();
        let user_code = user_code.to_owned();
        self.write(move |conn| {
            let (status, granted, method, remember) = match decision {
                DeviceDecision::Approve {
                    scopes,
                    method,
                    remember,
                } => (DeviceStatus::Approved, scopes, method, remember),
                DeviceDecision::Deny { method } => {
                    (DeviceStatus::Denied, Default::default(), method, None)
                }
            };
            let decided = query_opt(
                conn,
                sql::DECIDE_DEVICE_AUTHORIZATION,
                params![
                    status.as_str(),
                    scopes_column(&granted),
                    method,
                    now,
                    user_code,
                    operator_id,
                ],
                |r| rows::device_authorization(r),
            )?;
            let Some(decided) = decided else {
                let row = query_opt(
                    conn,
                    sql::DEVICE_AUTHORIZATION_BY_USER_CODE,
                    [&user_code],
                    |r| rows::device_authorization(r),
                )?;
                return Err(super::classify_decision_miss(row, &operator_id, now));
            };
            if let Some(g) = remember {
                exec(
                    conn,
                    sql::INSERT_REMEMBERED_GRANT,
                    params![
                        g.id,
                        g.did.as_str(),
                        g.operator_id,
                        g.resource,
                        scopes_column(&g.scopes),
                        g.created_at,
                        g.expires_at,
                        g.revoked_at,
                    ],
                )?;
            }
            insert_audit(conn, &event)?;
            Ok(decided)
        })
    }

    fn expire_device_authorizations(
        &self,
        now: UnixTime,
    ) -> StoreFuture<'_, Vec<DeviceAuthorization>> {
        self.write(move |conn| {
            query_all(conn, sql::EXPIRE_DEVICE_AUTHORIZATIONS, [now], |r| {
                rows::device_authorization(r)
            })
        })
    }

    fn active_remembered_grants(
        &self,
        did: &Did,
        resource: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, Vec<RememberedGrant>> {
        self.lookup(|conn| {
            query_all(
                conn,
                sql::ACTIVE_REMEMBERED_GRANTS,
                params![did.as_str(), resource, now],
                |r| rows::remembered_grant(r),
            )
        })
    }

    fn list_remembered_grants(
        &self,
        operator_id: &str,
        now: UnixTime,
        after: Option<(UnixTime, String)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<RememberedGrant>> {
        let operator_id = operator_id.to_owned();
        let (created_at, id) = after.map_or((i64::MAX, String::new()), |(t, id)| {
            (i64::try_from(t).unwrap_or(i64::MAX), id)
        });
        self.read(move |conn| {
            query_all(
                conn,
                sql::LIST_REMEMBERED_GRANTS,
                params![operator_id, now, created_at, id, limit],
                |r| rows::remembered_grant(r),
            )
        })
    }

    fn revoke_remembered_grant(
        &self,
        operator_id: &str,
        id: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, RememberedGrant> {
        let operator_id = operator_id.to_owned();
        let id = id.to_owned();
        self.write(move |conn| {
            query_opt(
                conn,
                sql::REVOKE_REMEMBERED_GRANT,
                params![now, id, operator_id],
                |r| rows::remembered_grant(r),
            )?
            .ok_or(StoreError::NotFound)
        })
    }

    fn purge_device_state(
        &self,
        device_before: UnixTime,
        grants_before: UnixTime,
    ) -> StoreFuture<'_, u64> {
        self.write(move |conn| {
            let devices = exec(conn, sql::PURGE_DEVICE_AUTHORIZATIONS, [device_before])?;
            let grants = exec(conn, sql::PURGE_REMEMBERED_GRANTS, [grants_before])?;
            Ok((devices + grants) as u64)
        })
    }

    fn insert_console_link(&self, link: ConsoleLink) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            exec(
                conn,
                sql::INSERT_CONSOLE_LINK,
                params![
                    link.link_hash,
                    link.operator_id,
                    link.created_at,
                    link.expires_at
                ],
            )
            .map(|_| ())
        })
    }

    fn redeem_console_link(
        &self,
        link_hash: &str,
        now: UnixTime,
        session: ConsoleSession,
    ) -> StoreFuture<'_, ConsoleSession> {
        let link_hash = link_hash.to_owned();
        self.write(move |conn| {
            let tx = conn.savepoint().map_err(map_err)?;
            let Some(operator_id) = query_opt(
                &tx,
                sql::REDEEM_CONSOLE_LINK,
                params![now, link_hash],
                |r| r.text("operator_id"),
            )?
            else {
                let found = query_opt(&tx, sql::GET_CONSOLE_LINK, [&link_hash], |r| {
                    rows::console_link_state(r)
                })?;
                return Err(rows::console_link_miss(found, now));
            };
            let session = ConsoleSession {
                operator_id,
                ..session
            };
            insert_console_session(&tx, &session)?;
            tx.commit().map_err(map_err)?;
            Ok(session)
        })
    }

    fn insert_console_session(&self, session: ConsoleSession) -> StoreFuture<'_, ()> {
        self.write(move |conn| insert_console_session(conn, &session))
    }

    fn touch_console_session(
        &self,
        session_hash: &str,
        now: UnixTime,
        idle_before: UnixTime,
    ) -> StoreFuture<'_, Option<ConsoleSession>> {
        let session_hash = session_hash.to_owned();
        self.write(move |conn| {
            query_opt(
                conn,
                sql::TOUCH_CONSOLE_SESSION,
                params![now, session_hash, idle_before],
                |r| rows::console_session(r),
            )
        })
    }

    fn delete_console_session(&self, session_hash: &str) -> StoreFuture<'_, bool> {
        let session_hash = session_hash.to_owned();
        self.write(move |conn| {
            exec(conn, sql::DELETE_CONSOLE_SESSION, [session_hash]).map(|n| n == 1)
        })
    }

    fn list_operator_audit(
        &self,
        operator_id: &str,
        limit: u32,
    ) -> StoreFuture<'_, Vec<AuditEvent>> {
        let operator_id = operator_id.to_owned();
        self.read(move |conn| {
            query_all(
                conn,
                sql::LIST_OPERATOR_AUDIT,
                params![operator_id, limit],
                |r| rows::audit_event(r),
            )
        })
    }

    fn insert_passkey(&self, p: StoredPasskey) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            exec(
                conn,
                sql::INSERT_PASSKEY,
                params![p.credential_id, p.operator_id, p.passkey, p.created_at],
            )
            .map(|_| ())
        })
    }

    fn list_passkeys(&self, operator_id: &str) -> StoreFuture<'_, Vec<StoredPasskey>> {
        let operator_id = operator_id.to_owned();
        self.read(move |conn| {
            query_all(conn, sql::LIST_PASSKEYS, [operator_id], |r| {
                rows::passkey(r)
            })
        })
    }

    fn insert_webauthn_ceremony(&self, c: WebauthnCeremony) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            exec(
                conn,
                sql::INSERT_WEBAUTHN_CEREMONY,
                params![c.id, c.operator_id, c.purpose, c.state, c.expires_at],
            )
            .map(|_| ())
        })
    }

    fn take_webauthn_ceremony(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, Option<WebauthnCeremony>> {
        let id = id.to_owned();
        self.write(move |conn| {
            query_opt(conn, sql::TAKE_WEBAUTHN_CEREMONY, params![id, now], |r| {
                rows::webauthn_ceremony(r)
            })
        })
    }

    fn revoke_token(&self, t: RevokedToken) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            exec(
                conn,
                sql::REVOKE_TOKEN,
                params![
                    t.jti,
                    t.did.as_str(),
                    t.operator_id,
                    t.expires_at,
                    t.revoked_at
                ],
            )
            .map(|n| n == 1)
        })
    }

    fn set_token_cutoff(&self, subject: &str, at: UnixTime) -> StoreFuture<'_, ()> {
        let subject = subject.to_owned();
        self.write(move |conn| exec(conn, sql::SET_TOKEN_CUTOFF, params![subject, at]).map(drop))
    }

    fn token_cutoff(&self, did: &Did, operator_id: &str) -> StoreFuture<'_, Option<UnixTime>> {
        self.lookup(|conn| {
            conn.prepare_cached(sql::TOKEN_CUTOFF)
                .and_then(|mut s| {
                    s.query_row(params![did.as_str(), operator_id], |r| {
                        r.get::<_, Option<i64>>(0)
                    })
                })
                .map(|cutoff| cutoff.and_then(|c| u64::try_from(c).ok()))
                .map_err(map_err)
        })
    }

    fn is_token_revoked(&self, jti: &str) -> StoreFuture<'_, bool> {
        self.lookup(|conn| {
            conn.prepare_cached(sql::IS_TOKEN_REVOKED)
                .and_then(|mut s| s.exists([jti]))
                .map_err(map_err)
        })
    }

    fn list_revoked_tokens_page(
        &self,
        operator_id: &str,
        live_after: UnixTime,
        after: Option<(UnixTime, String)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<RevokedToken>> {
        let operator_id = operator_id.to_owned();
        let (revoked_at, jti) = after.map_or((i64::MAX, String::new()), |(t, jti)| {
            (i64::try_from(t).unwrap_or(i64::MAX), jti)
        });
        self.read(move |conn| {
            query_all(
                conn,
                sql::LIST_REVOKED_TOKENS_PAGE,
                params![operator_id, live_after, revoked_at, jti, limit],
                |r| rows::revoked_token(r),
            )
        })
    }

    fn append_audit(&self, e: AuditEvent) -> StoreFuture<'_, ()> {
        self.write(move |conn| insert_audit(conn, &e))
    }

    fn purge_audit(&self, before: UnixTime, batch: u32) -> StoreFuture<'_, u64> {
        self.write(move |conn| {
            exec(conn, sql::PURGE_AUDIT, params![batch, before]).map(|n| n as u64)
        })
    }

    fn list_audit(&self, limit: u32) -> StoreFuture<'_, Vec<AuditEvent>> {
        self.read(move |conn| query_all(conn, sql::LIST_AUDIT, [limit], |r| rows::audit_event(r)))
    }

    fn load_signing_keys(&self) -> StoreFuture<'_, Vec<SigningKeyRecord>> {
        self.read(|conn| {
            // Per backend: insertion order is SQLite's rowid, PostgreSQL's `seq` column.
            query_all(
                conn,
                "SELECT kid, pkcs8_pem, created_at, activates_at, retired_at, not_after FROM signing_keys \
                 ORDER BY created_at, rowid",
                [],
                |r| rows::signing_key(r),
            )
        })
    }

    fn insert_signing_key(&self, key: SigningKeyRecord) -> StoreFuture<'_, ()> {
        self.write(move |conn| insert_key(conn, &key))
    }

    fn rotate_signing_key(
        &self,
        new_key: SigningKeyRecord,
        not_after: UnixTime,
    ) -> StoreFuture<'_, ()> {
        self.write(move |conn| {
            let tx = conn.savepoint().map_err(map_err)?;
            let retired_at = new_key.activates_at;
            exec(
                &tx,
                sql::RETIRE_SIGNING_KEYS,
                params![retired_at, not_after],
            )?;
            insert_key(&tx, &new_key)?;
            tx.commit().map_err(map_err)
        })
    }

    fn rotate_signing_key_after(
        &self,
        current_kid: &str,
        new_key: SigningKeyRecord,
        not_after: UnixTime,
    ) -> StoreFuture<'_, bool> {
        let current_kid = current_kid.to_owned();
        self.write(move |conn| {
            let tx = conn.savepoint().map_err(map_err)?;
            let retired_at = new_key.activates_at;
            let retired = exec(
                &tx,
                sql::RETIRE_NEWEST_SIGNING_KEY,
                params![retired_at, not_after, current_kid],
            )?;
            if retired == 0 {
                return Ok(false);
            }
            insert_key(&tx, &new_key)?;
            tx.commit().map_err(map_err)?;
            Ok(true)
        })
    }

    fn purge_retired_signing_keys(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        self.write(move |conn| exec(conn, sql::PURGE_RETIRED_SIGNING_KEYS, [now]).map(|n| n as u64))
    }

    fn purge_expired(&self, now: UnixTime) -> StoreFuture<'_, PurgeStats> {
        self.write(move |conn| {
            let tx = conn.savepoint().map_err(map_err)?;
            let purge = |sql: &str| exec(&tx, sql, [now]).map(|n| n as u64);
            let stats = PurgeStats {
                challenges: 0,
                request_jtis: purge(sql::PURGE_REQUEST_JTIS)?,
                revoked_tokens: purge(sql::PURGE_REVOKED_TOKENS)?,
                operator_recoveries: purge(sql::PURGE_OPERATOR_RECOVERIES)?,
                audit_events: 0,
                pending_agents: 0,
            };
            purge(sql::PURGE_CONSOLE_LINKS)?;
            purge(sql::PURGE_CONSOLE_SESSIONS)?;
            purge(sql::PURGE_WEBAUTHN_CEREMONIES)?;
            tx.commit().map_err(map_err)?;
            Ok(stats)
        })
    }
}

/// The next free status-list entry (see [`Store::insert_agent`]); one writer, so the newest list
/// cannot be started by anyone else between the two statements.
fn allocate_status_entry(conn: &Connection, list_size: u64) -> Result<StatusEntry, StoreError> {
    let entry = |list: i64, index: i64| StatusEntry {
        list: list as u64,
        index: index as u64,
    };
    if let Some(found) = query_opt(conn, sql::ALLOCATE_STATUS_ENTRY, [], |r| {
        Ok(entry(r.int("list")?, r.int("idx")?))
    })? {
        return Ok(found);
    }
    query_opt(conn, sql::START_STATUS_LIST, [list_size], |r| {
        Ok(entry(r.int("list")?, 0))
    })?
    .ok_or_else(|| StoreError::Unavailable("no status list could be started".into()))
}

fn insert_console_session(conn: &Connection, s: &ConsoleSession) -> Result<(), StoreError> {
    exec(
        conn,
        sql::INSERT_CONSOLE_SESSION,
        params![
            s.session_hash,
            s.operator_id,
            s.csrf_token,
            s.method,
            s.created_at,
            s.last_seen_at,
            s.expires_at
        ],
    )
    .map(|_| ())
}

fn insert_key(conn: &Connection, key: &SigningKeyRecord) -> Result<(), StoreError> {
    exec(
        conn,
        sql::INSERT_SIGNING_KEY,
        params![
            key.kid,
            key.pkcs8_pem.as_str(),
            key.created_at,
            key.activates_at,
            key.retired_at,
            key.not_after
        ],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_durable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("db.sqlite")).unwrap();
        let pragmas = |conn: &Connection| -> (i64, i64, String) {
            (
                conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .unwrap(),
                conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
                    .unwrap(),
                conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .unwrap(),
            )
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let writer = runtime
            .block_on(store.write(move |conn| Ok(pragmas(conn))))
            .unwrap();
        let reader = open_reader(store.path()).unwrap();
        for (sync, fk, mode) in [writer, pragmas(&reader)] {
            assert_eq!(sync, 2, "synchronous=FULL");
            assert_eq!(fk, 1);
            assert_eq!(mode, "wal");
        }
        assert!(
            reader.execute("DELETE FROM audit_events", []).is_err(),
            "reader connections are read-only"
        );
    }

    #[test]
    fn a_failing_write_in_a_batch_rolls_back_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("db.sqlite")).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
        let results: Vec<Result<(), StoreError>> = runtime.block_on(async {
            let mut handles = Vec::new();
            for i in 0..64u32 {
                let store = store.clone();
                handles.push(tokio::spawn(async move {
                    store
                        .write(move |conn| {
                            conn.execute(
                                "INSERT INTO audit_events (at, actor, action, subject, detail) \
                                 VALUES (?1, 'test', 'batch', ?2, '')",
                                params![i, i.to_string()],
                            )
                            .map_err(map_err)?;
                            if i % 2 == 1 {
                                return Err(StoreError::Conflict(format!("job {i} fails")));
                            }
                            Ok(())
                        })
                        .await
                }));
            }
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 32);
        let rows: i64 = open_reader(store.path())
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit_events WHERE action = 'batch'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 32, "the failing writes left nothing behind");
    }

    #[test]
    fn the_writer_lingers_only_when_writes_arrive_fast() {
        let start = Instant::now();
        let at = |us| start + Duration::from_micros(us);
        let mut pace = CommitPace::default();
        assert!(
            !pace.worth_lingering(256, start),
            "no batch before: no rate known"
        );
        pace.took(1, start);
        assert!(
            !pace.worth_lingering(256, at(1)),
            "one batch: no rate known"
        );
        pace.took(3, at(250));
        // 3 + 1 writes in 0.5 ms: 8,000/s, so a wait of 250 µs gathers two more.
        assert!(pace.worth_lingering(1, at(500)));
        // 3 writes in 0.5 ms (6,000/s): commit at once.
        assert!(!pace.worth_lingering(0, at(500)));
        // The first write after a quiet second does not wait, however busy it was before.
        pace.took(200, at(500));
        assert!(!pace.worth_lingering(1, at(1_000_500)));
    }
}
