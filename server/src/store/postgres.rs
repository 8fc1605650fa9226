//! PostgreSQL backend of [`Store`], for several server replicas sharing one database.
//!
//! A deadpool pool of tokio-postgres connections. Migrations (a PostgreSQL dialect copy of each
//! SQLite migration, in `migrations/postgres/`) are applied in one transaction under an advisory
//! lock and recorded in `schema_version`, so replicas starting together migrate once. Single use is
//! race-free across replicas: a challenge is consumed by one conditional `UPDATE … RETURNING`, a
//! request `jti` by `INSERT … ON CONFLICT DO NOTHING`. Background leadership is a session-level
//! advisory lock held on a dedicated connection ([`Store::try_lead_background`]).
//!
//! TLS to PostgreSQL is not implemented yet: URLs must use `sslmode=disable` (or `prefer`, which
//! then connects without TLS); `require` is refused at startup.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Client, NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::pg_identities::VersionedIdentities;
use super::postgres_tls::{self, TlsMode, TlsSettings};

use auth4agent_protocol::{Did, Domain, PublicKey};

use super::rows::{self, Columns, opt_text_column, scopes_column};
use super::sql;
use super::{
    Agent, AgentStatus, AgentUpdate, AuditEvent, ConsoleLink, ConsoleSession, DeviceAuthorization,
    DeviceDecision, DeviceStatus, FlaggedEntry, IdentityVersion, Operator, OperatorRecovery,
    PurgeStats, RememberedGrant, RevokedToken, SigningKeyRecord, StatusEntry, StatusListInfo,
    Store, StoreError, StoreFuture, StoredPasskey, UnixTime, WebauthnCeremony, classify_agent_miss,
};

/// Schema migrations; entry `i` moves the schema from version `i` to `i + 1`. Same count and
/// meaning as the SQLite list.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_initial.sql"),
    include_str!("migrations/postgres/0002_device_authorization.sql"),
    include_str!("migrations/postgres/0003_status_lists.sql"),
    include_str!("migrations/postgres/0004_token_cutoffs.sql"),
    include_str!("migrations/postgres/0005_registration_approvals.sql"),
    include_str!("migrations/postgres/0006_console.sql"),
    include_str!("migrations/postgres/0007_key_lifecycle.sql"),
    include_str!("migrations/postgres/0008_stateless_challenges.sql"),
];

/// PostgreSQL: the redemption and its audit row in ONE statement (one round trip, one implicit
/// transaction): `$1` = id, `$2` = its expiry, `$3..$7` = the audit row. One row inserted, or none
/// when the challenge was already redeemed.
const REDEEM_CHALLENGE_WITH_AUDIT: &str = "WITH redeemed AS (\
     INSERT INTO redeemed_challenges (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id) \
     INSERT INTO audit_events (at, actor, action, subject, detail) \
     SELECT $3::BIGINT, $4::TEXT, $5::TEXT, $6::TEXT, $7::TEXT FROM redeemed";

/// PostgreSQL: a client assertion's jti recorded with its audit row in one statement, like
/// [`REDEEM_CHALLENGE_WITH_AUDIT`]: `$1` = signer, `$2` = jti, `$3` = expiry, `$4..$8` = the audit row.
const REDEEM_JTI_WITH_AUDIT: &str = "WITH redeemed AS (\
     INSERT INTO request_jtis (signer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING \
     RETURNING jti) \
     INSERT INTO audit_events (at, actor, action, subject, detail) \
     SELECT $4::BIGINT, $5::TEXT, $6::TEXT, $7::TEXT, $8::TEXT FROM redeemed";

/// An agent row and its operator's row in one: the operator's columns carry the prefix `op_`
/// (read through [`Prefixed`]).
const GET_AGENT_WITH_OPERATOR: &str = "SELECT a.did, a.operator_id, a.public_key, a.thumbprint, a.status, \
     a.allowed_scopes, a.created_at, a.updated_at, a.revoked_at, a.approval_scopes, a.status_list, \
     a.status_index, o.id AS op_id, o.domain AS op_domain, o.public_key AS op_public_key, \
     o.thumbprint AS op_thumbprint, o.txt_token AS op_txt_token, o.status AS op_status, \
     o.domain_verified_at AS op_domain_verified_at, \
     o.verification_expires_at AS op_verification_expires_at, o.created_at AS op_created_at \
     FROM agents a JOIN operators o ON o.id = a.operator_id WHERE a.did = $1";

/// [`GET_AGENT_WITH_OPERATOR`] plus the identity version, in the same snapshot.
const GET_AGENT_WITH_OPERATOR_VERSIONED: &str = "SELECT a.did, a.operator_id, a.public_key, a.thumbprint, \
     a.status, a.allowed_scopes, a.created_at, a.updated_at, a.revoked_at, a.approval_scopes, a.status_list, \
     a.status_index, o.id AS op_id, o.domain AS op_domain, o.public_key AS op_public_key, \
     o.thumbprint AS op_thumbprint, o.txt_token AS op_txt_token, o.status AS op_status, \
     o.domain_verified_at AS op_domain_verified_at, \
     o.verification_expires_at AS op_verification_expires_at, o.created_at AS op_created_at, \
     (SELECT version FROM identity_version) AS identity_version \
     FROM agents a JOIN operators o ON o.id = a.operator_id WHERE a.did = $1";

/// [`REDEEM_CHALLENGE_WITH_AUDIT`] written only if the identity version is still `$8`: one statement,
/// answering whether the version held (`current`) and whether the challenge was redeemed (`redeemed`).
const REDEEM_CHALLENGE_AT_VERSION: &str = "WITH current AS (\
     SELECT 1 FROM identity_version WHERE version = $8::BIGINT), \
     redeemed AS (INSERT INTO redeemed_challenges (id, expires_at) \
     SELECT $1::TEXT, $2::BIGINT FROM current ON CONFLICT DO NOTHING RETURNING id), \
     audited AS (INSERT INTO audit_events (at, actor, action, subject, detail) \
     SELECT $3::BIGINT, $4::TEXT, $5::TEXT, $6::TEXT, $7::TEXT FROM redeemed) \
     SELECT (SELECT count(*) FROM current) AS current, (SELECT count(*) FROM redeemed) AS redeemed";

/// [`REDEEM_JTI_WITH_AUDIT`] written only if the identity version is still `$9`, answering as
/// [`REDEEM_CHALLENGE_AT_VERSION`] does.
const REDEEM_JTI_AT_VERSION: &str = "WITH current AS (\
     SELECT 1 FROM identity_version WHERE version = $9::BIGINT), \
     redeemed AS (INSERT INTO request_jtis (signer, jti, expires_at) \
     SELECT $1::TEXT, $2::TEXT, $3::BIGINT FROM current ON CONFLICT DO NOTHING RETURNING jti), \
     audited AS (INSERT INTO audit_events (at, actor, action, subject, detail) \
     SELECT $4::BIGINT, $5::TEXT, $6::TEXT, $7::TEXT, $8::TEXT FROM redeemed) \
     SELECT (SELECT count(*) FROM current) AS current, (SELECT count(*) FROM redeemed) AS redeemed";

/// Advisory lock serializing migrations across replicas (held for the migration transaction).
const MIGRATION_LOCK: i64 = 0x6134_6167_6d69_6772;
/// Advisory lock whose holder runs the background passes (held for the leader's session).
const BACKGROUND_LOCK: i64 = 0x6134_6167_6267_6a62;

/// Pool size when the operator does not choose one.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a free pooled connection before failing with 503.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the background lock check (it must never stall the background loop).
const LEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Rotations racing another replica's rotation are retried this many times.
const ROTATE_ATTEMPTS: usize = 3;

/// The PostgreSQL store. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The TLS connector when the URL asks for TLS (see [`super::postgres_tls`]).
    tls: Option<MakeRustlsConnect>,
    /// The dedicated connection holding (or trying for) the background lock.
    leader: tokio::sync::Mutex<Option<Client>>,
    /// Agents and operators as issuance last read them, with their identity version.
    identities: VersionedIdentities,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("PostgresStore")
            .field("target", &describe(&self.inner.config))
            .finish_non_exhaustive()
    }
}

/// `host:port/dbname` of a connection config, for logs (no credentials).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// True when `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Parses a `postgres://` URL into a connection config and its TLS settings (`sslmode`, `sslrootcert`).
pub fn parse_url(url: &str) -> Result<(tokio_postgres::Config, TlsSettings), StoreError> {
    if !is_postgres_url(url) {
        return Err(StoreError::Unavailable(
            "the database URL must start with postgres:// or postgresql://".into(),
        ));
    }
    let (rest, tls) = postgres_tls::split_url(url.trim())?;
    let mut config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?;
    config.ssl_mode(if tls.mode == TlsMode::Disable {
        SslMode::Disable
    } else {
        SslMode::Require
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("auth4agent-server");
    }
    Ok((config, tls))
}

impl PostgresStore {
    /// Records a credential with its audit row in one statement: `statements.0` unconditionally,
    /// `statements.1` only if the identity version is still `read_at`'s (their parameters: the credential's,
    /// then the audit row's, then the version). `used` if the credential was already recorded.
    async fn redeem(
        &self,
        statements: (&str, &str),
        credential: &[&(dyn ToSql + Sync)],
        e: &AuditEvent,
        read_at: IdentityVersion,
        used: StoreError,
    ) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let at = ts(e.at);
        let mut params: Vec<&(dyn ToSql + Sync)> = credential.to_vec();
        params.extend([
            &at as &(dyn ToSql + Sync),
            &e.actor,
            &e.action,
            &e.subject,
            &e.detail,
        ]);
        let Some(version) = read_at.checked() else {
            let inserted = exec(&*conn, statements.0, &params).await?;
            return if inserted == 1 { Ok(()) } else { Err(used) };
        };
        params.push(&version);
        let row = one(&*conn, statements.1, &params).await?;
        self.versioned_outcome(&row, used)
    }

    /// The outcome of a redemption conditioned on an identity version: Stale (and the cached copies
    /// forgotten) if the version moved, `used` if the credential was already redeemed.
    fn versioned_outcome(&self, row: &Row, used: StoreError) -> Result<(), StoreError> {
        if row.int("current")? == 0 {
            self.inner.identities.clear();
            return Err(StoreError::Stale);
        }
        if row.int("redeemed")? == 0 {
            return Err(used);
        }
        Ok(())
    }

    /// One page of an operator's agents by `sql` (a `LIST_*AGENTS_PAGE` statement: operator, cursor, limit).
    fn agents_page(
        &self,
        sql: &'static str,
        operator_id: &str,
        after: Option<(UnixTime, Did)>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Agent>> {
        let operator_id = operator_id.to_owned();
        let (created_at, did) =
            after.map_or((-1, String::new()), |(t, d)| (ts(t), d.as_str().to_owned()));
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                sql,
                &[&operator_id, &created_at, &did, &i64::from(limit)],
            )
            .await?
            .iter()
            .map(rows::agent)
            .collect()
        })
    }

    /// Connects a pool of at most `max_connections` to `url`, checks the database answers and
    /// applies pending migrations (once across concurrently starting replicas).
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let (config, tls) = parse_url(url)?;
        let tls = postgres_tls::connector(&tls)?;
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), recycling()),
            None => Manager::from_config(config.clone(), NoTls, recycling()),
        };
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("database pool: {e}")))?;
        let store = PostgresStore {
            inner: Arc::new(Inner {
                pool,
                config,
                tls,
                leader: tokio::sync::Mutex::new(None),
                identities: VersionedIdentities::default(),
            }),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// `host:port/dbname` (no credentials).
    pub fn target(&self) -> String {
        describe(&self.inner.config)
    }

    /// The schema version in force (highest row of `schema_version`).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let conn = self.conn().await?;
        let row = one(
            &*conn,
            "SELECT COALESCE(MAX(version), 0) AS v FROM schema_version",
            &[],
        )
        .await?;
        let v: i32 = get(&row, "v")?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("schema version {v}")))
    }

    async fn conn(&self) -> Result<PooledConn, StoreError> {
        let started = Instant::now();
        let conn = self
            .inner
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("database pool: {e}")))?;
        Ok(PooledConn { conn, started })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(map_err)?;
        tx.batch_execute(
            "SET LOCAL client_min_messages = warning; \
             CREATE TABLE IF NOT EXISTS schema_version (\
                 version    INTEGER PRIMARY KEY, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(map_err)?;
        let row = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await
            .map_err(map_err)?;
        let version: i32 = row
            .try_get(0)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let known = MIGRATIONS.len();
        let current = usize::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?;
        if current > known {
            return Err(StoreError::Corrupt(format!(
                "database schema version {version} is newer than this server ({known})"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.batch_execute(sql).await.map_err(map_err)?;
            let next = i32::try_from(i + 1).unwrap_or(i32::MAX);
            tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&next])
                .await
                .map_err(map_err)?;
            tracing::info!(version = next, "applied PostgreSQL migration");
        }
        tx.commit().await.map_err(map_err)
    }

    /// Keeps (or acquires) the background lock on the dedicated leader connection.
    async fn lead(&self) -> Result<bool, StoreError> {
        let mut leader = self.inner.leader.lock().await;
        if let Some(client) = leader.as_ref() {
            // The lock lives as long as this session: a live session that holds it still leads.
            if !client.is_closed() {
                let held = client
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
                         AND pid = pg_backend_pid() AND granted \
                         AND ((classid::bigint << 32) | objid::bigint) = $1)",
                        &[&BACKGROUND_LOCK],
                    )
                    .await
                    .and_then(|row| row.try_get::<_, bool>(0));
                match held {
                    Ok(true) => return Ok(true),
                    Ok(false) => {
                        let got = try_lock(client).await;
                        if let Ok(got) = got {
                            return Ok(got);
                        }
                    }
                    Err(_) => {}
                }
            }
            *leader = None;
        }
        let client = match &self.inner.tls {
            Some(tls) => {
                let (client, connection) = self
                    .inner
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(map_err)?;
                tokio::spawn(watch_lock_connection(connection));
                client
            }
            None => {
                let (client, connection) =
                    self.inner.config.connect(NoTls).await.map_err(map_err)?;
                tokio::spawn(watch_lock_connection(connection));
                client
            }
        };
        let got = try_lock(&client).await?;
        *leader = Some(client);
        Ok(got)
    }
}

async fn try_lock(client: &Client) -> Result<bool, StoreError> {
    client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&BACKGROUND_LOCK])
        .await
        .and_then(|row| row.try_get::<_, bool>(0))
        .map_err(map_err)
}

/// Maps a PostgreSQL error to the store's categories.
/// Drives the background-lock connection until it closes.
async fn watch_lock_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "background-lock connection closed");
    }
}

/// A pooled connection, timed from checkout to release as one store operation (for the metrics).
struct PooledConn {
    conn: Object,
    started: Instant,
}

impl std::ops::Deref for PooledConn {
    type Target = Object;
    fn deref(&self) -> &Object {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Object {
        &mut self.conn
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        crate::metrics::record_store("postgresql", "operation", self.started.elapsed());
    }
}

fn map_err(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::Unavailable(e.to_string());
    };
    let code = db.code();
    if *code == SqlState::FOREIGN_KEY_VIOLATION {
        StoreError::NotFound
    } else if code.code().starts_with("23") {
        // Integrity constraint violations: unique, check, not-null, exclusion.
        StoreError::Conflict(db.message().to_owned())
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        StoreError::Corrupt(db.message().to_owned())
    } else {
        StoreError::Unavailable(format!("{}: {}", code.code(), db.message()))
    }
}

/// A Unix time as stored (`BIGINT`); times past `i64::MAX` mean "never" and are clamped.
fn ts(t: UnixTime) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn opt_ts(t: Option<UnixTime>) -> Option<i64> {
    t.map(ts)
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, col: &str) -> Result<T, StoreError> {
    row.try_get(col)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

/// The operator half of a [`GET_AGENT_WITH_OPERATOR`] row: each column read under its `op_` alias.
struct Prefixed<'a>(&'a Row);

impl Prefixed<'_> {
    fn name(column: &str) -> String {
        format!("op_{column}")
    }
}

impl Columns for Prefixed<'_> {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.0.text(&Self::name(column))
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.0.bytes(&Self::name(column))
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.0.int(&Self::name(column))
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.0.opt_int(&Self::name(column))
    }
}

impl Columns for Row {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        get(self, column)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        get(self, column)
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        get(self, column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        get(self, column)
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(map_err)?;
    c.query_opt(&stmt, params).await.map_err(map_err)
}

async fn one<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<Row, StoreError> {
    opt(c, sql, params).await?.ok_or(StoreError::NotFound)
}

async fn all<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(map_err)?;
    c.query(&stmt, params).await.map_err(map_err)
}

async fn exec<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(map_err)?;
    c.execute(&stmt, params).await.map_err(map_err)
}

async fn insert_console_session<C: GenericClient>(
    c: &C,
    s: &ConsoleSession,
) -> Result<(), StoreError> {
    exec(
        c,
        sql::INSERT_CONSOLE_SESSION,
        &[
            &s.session_hash,
            &s.operator_id,
            &s.csrf_token,
            &s.method,
            &ts(s.created_at),
            &ts(s.last_seen_at),
            &ts(s.expires_at),
        ],
    )
    .await
    .map(|_| ())
}

async fn insert_audit<C: GenericClient>(c: &C, e: &AuditEvent) -> Result<(), StoreError> {
    exec(
        c,
        sql::INSERT_AUDIT,
        &[&ts(e.at), &e.actor, &e.action, &e.subject, &e.detail],
    )
    .await
    .map(|_| ())
}

async fn get_operator_row<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<Operator>, StoreError> {
    opt(c, sql::GET_OPERATOR, &[&id])
        .await?
        .as_ref()
        .map(rows::operator)
        .transpose()
}

async fn get_agent_row<C: GenericClient>(c: &C, did: &Did) -> Result<Option<Agent>, StoreError> {
    opt(c, sql::GET_AGENT, &[&did.as_str()])
        .await?
        .as_ref()
        .map(rows::agent)
        .transpose()
}

/// The next free status-list entry (see [`Store::insert_agent`]), inside the caller's transaction.
/// The newest list's row lock serializes allocations from it; when it is full, two replicas may race
/// to start the next list: the loser's insert does nothing (`ON CONFLICT DO NOTHING`, after waiting
/// for the winner's commit) and it allocates again, from the winner's list.
async fn allocate_status_entry<C: GenericClient>(
    c: &C,
    list_size: u64,
) -> Result<StatusEntry, StoreError> {
    let entry = |list: i64, index: i64| StatusEntry {
        list: list as u64,
        index: index as u64,
    };
    for _ in 0..ALLOCATE_ATTEMPTS {
        if let Some(row) = opt(c, sql::ALLOCATE_STATUS_ENTRY, &[]).await? {
            return Ok(entry(get(&row, "list")?, get(&row, "idx")?));
        }
        if let Some(row) = opt(c, sql::START_STATUS_LIST, &[&ts(list_size)]).await? {
            return Ok(entry(get(&row, "list")?, 0));
        }
    }
    Err(StoreError::Unavailable(
        "no status-list entry after repeated attempts".into(),
    ))
}

/// Rounds of [`allocate_status_entry`] before giving up (each lost round means another replica
/// started a list, which then has room).
const ALLOCATE_ATTEMPTS: usize = 8;

async fn insert_key<C: GenericClient>(c: &C, key: &SigningKeyRecord) -> Result<(), StoreError> {
    exec(
        c,
        sql::INSERT_SIGNING_KEY,
        &[
            &key.kid,
            &key.pkcs8_pem.as_str(),
            &ts(key.created_at),
            &ts(key.activates_at),
            &opt_ts(key.retired_at),
            &opt_ts(key.not_after),
        ],
    )
    .await
    .map(|_| ())
}

impl Store for PostgresStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Per backend: SQLite's probe reads its schema page instead.
            exec(&*conn, "SELECT 1", &[]).await.map(|_| ())
        })
    }

    fn try_lead_background(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            match tokio::time::timeout(LEAD_TIMEOUT, self.lead()).await {
                Ok(result) => result,
                Err(_) => {
                    // A hung session cannot be trusted to hold the lock: start afresh next pass.
                    *self.inner.leader.lock().await = None;
                    Err(StoreError::Unavailable(
                        "timed out checking the background lock".into(),
                    ))
                }
            }
        })
    }

    fn insert_operator(&self, op: Operator) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(
                &*conn,
                sql::INSERT_OPERATOR,
                &[
                    &op.id,
                    &op.domain.as_str(),
                    &&op.public_key.as_bytes()[..],
                    &op.thumbprint,
                    &op.txt_token,
                    &op.status.as_str(),
                    &opt_ts(op.domain_verified_at),
                    &opt_ts(op.verification_expires_at),
                    &ts(op.created_at),
                ],
            )
            .await
            .map(|_| ())
        })
    }

    fn get_operator(&self, id: &str) -> StoreFuture<'_, Option<Operator>> {
        let id = id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            get_operator_row(&*conn, &id).await
        })
    }

    fn get_operator_by_domain(&self, domain: &Domain) -> StoreFuture<'_, Option<Operator>> {
        let domain = domain.as_str().to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            // Per backend: ties broken by insertion order, PostgreSQL's `seq` column.
            opt(
                &*conn,
                concat!(
                    "SELECT ",
                    sql::operator_columns!(),
                    " FROM operators WHERE domain = $1 \
                     ORDER BY status = 'verified' DESC, created_at, seq LIMIT 1"
                ),
                &[&domain],
            )
            .await?
            .as_ref()
            .map(rows::operator)
            .transpose()
        })
    }

    fn set_operator_verified(
        &self,
        id: &str,
        verified_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreFuture<'_, Operator> {
        let id = id.to_owned();
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            // Another operator's lapsed proof of the same domain no longer holds it.
            exec(&tx, sql::RELEASE_LAPSED_DOMAIN, &[&id, &ts(verified_at)]).await?;
            // The partial unique index on verified domains refuses a second current owner.
            let row = opt(
                &tx,
                sql::SET_OPERATOR_VERIFIED,
                &[&ts(verified_at), &ts(expires_at), &id],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
            let op = rows::operator(&row)?;
            tx.commit().await.map_err(map_err)?;
            Ok(op)
        })
    }

    fn start_operator_recovery(
        &self,
        recovery: OperatorRecovery,
    ) -> StoreFuture<'_, OperatorRecovery> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = opt(
                &*conn,
                sql::START_OPERATOR_RECOVERY,
                &[
                    &recovery.operator_id,
                    &recovery.thumbprint,
                    &&recovery.public_key.as_bytes()[..],
                    &recovery.txt_token,
                    &ts(recovery.created_at),
                    &ts(recovery.expires_at),
                ],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
            rows::operator_recovery(&row)
        })
    }

    fn count_operator_recoveries(&self, operator_id: &str, now: UnixTime) -> StoreFuture<'_, u64> {
        let operator_id = operator_id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = one(
                &*conn,
                sql::COUNT_OPERATOR_RECOVERIES,
                &[&operator_id, &ts(now)],
            )
            .await?;
            let n: i64 = row
                .try_get(0)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn get_operator_recovery(
        &self,
        operator_id: &str,
        thumbprint: &str,
    ) -> StoreFuture<'_, Option<OperatorRecovery>> {
        let (operator_id, thumbprint) = (operator_id.to_owned(), thumbprint.to_owned());
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(
                &*conn,
                sql::GET_OPERATOR_RECOVERY,
                &[&operator_id, &thumbprint],
            )
            .await?
            .map(|row| rows::operator_recovery(&row))
            .transpose()
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
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            exec(&tx, sql::RELEASE_LAPSED_DOMAIN, &[&id, &ts(verified_at)]).await?;
            // The row lock on the operator serializes concurrent completions: the second finds its
            // recovery deleted and matches nothing.
            let row = opt(
                &tx,
                sql::COMPLETE_OPERATOR_RECOVERY,
                &[&id, &thumbprint, &ts(verified_at), &ts(expires_at)],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
            let op = rows::operator(&row)?;
            exec(&tx, sql::DELETE_OPERATOR_RECOVERIES, &[&id]).await?;
            tx.commit().await.map_err(map_err)?;
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
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = opt(
                &*conn,
                sql::CHANGE_OPERATOR_KEY,
                &[
                    &&new_key.as_bytes()[..],
                    &new_key.thumbprint(),
                    &id,
                    &old_thumbprint,
                ],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
            rows::operator(&row)
        })
    }

    fn set_operator_unverified(&self, id: &str) -> StoreFuture<'_, Operator> {
        let id = id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = opt(&*conn, sql::SET_OPERATOR_UNVERIFIED, &[&id])
                .await?
                .ok_or(StoreError::NotFound)?;
            rows::operator(&row)
        })
    }

    fn list_operators_due_for_reverification(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> StoreFuture<'_, Vec<Operator>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Per backend: ties broken by insertion order, PostgreSQL's `seq` column.
            all(
                &*conn,
                concat!(
                    "SELECT ",
                    sql::operator_columns!(),
                    " FROM operators WHERE status = 'verified' \
                     AND verification_expires_at <= $1 \
                     ORDER BY verification_expires_at, seq LIMIT $2"
                ),
                &[&ts(now), &i64::from(limit)],
            )
            .await?
            .iter()
            .map(rows::operator)
            .collect()
        })
    }

    fn insert_agent(&self, mut agent: Agent, list_size: u64) -> StoreFuture<'_, Agent> {
        Box::pin(async move {
            let scopes = scopes_column(&agent.allowed_scopes);
            let approval = scopes_column(&agent.approval_scopes);
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            let entry = allocate_status_entry(&tx, list_size).await?;
            exec(
                &tx,
                sql::INSERT_AGENT,
                &[
                    &agent.did.as_str(),
                    &agent.operator_id,
                    &&agent.public_key.as_bytes()[..],
                    &agent.thumbprint,
                    &agent.status.as_str(),
                    &scopes,
                    &ts(agent.created_at),
                    &ts(agent.updated_at),
                    &opt_ts(agent.revoked_at),
                    &approval,
                    &ts(entry.list),
                    &ts(entry.index),
                ],
            )
            .await?;
            tx.commit().await.map_err(map_err)?;
            agent.status_entry = Some(entry);
            Ok(agent)
        })
    }

    fn get_agent(&self, did: &Did) -> StoreFuture<'_, Option<Agent>> {
        let did = did.clone();
        Box::pin(async move {
            let conn = self.conn().await?;
            get_agent_row(&*conn, &did).await
        })
    }

    fn get_agent_with_operator(&self, did: &Did) -> StoreFuture<'_, Option<(Agent, Operator)>> {
        let did = did.clone();
        Box::pin(async move {
            let conn = self.conn().await?;
            // One statement (one round trip, one snapshot) for both rows.
            let Some(row) = opt(&*conn, GET_AGENT_WITH_OPERATOR, &[&did.as_str()]).await? else {
                return Ok(None);
            };
            Ok(Some((rows::agent(&row)?, rows::operator(&Prefixed(&row))?)))
        })
    }

    fn get_agent_for_issuance(
        &self,
        did: &Did,
    ) -> StoreFuture<'_, Option<(Agent, Operator, IdentityVersion)>> {
        let did = did.clone();
        Box::pin(async move {
            if let Some((agent, op, version)) = self.inner.identities.get(did.as_str()) {
                return Ok(Some((agent, op, IdentityVersion::at(version))));
            }
            let conn = self.conn().await?;
            let Some(row) =
                opt(&*conn, GET_AGENT_WITH_OPERATOR_VERSIONED, &[&did.as_str()]).await?
            else {
                return Ok(None);
            };
            let (agent, op) = (rows::agent(&row)?, rows::operator(&Prefixed(&row))?);
            let version = row.int("identity_version")?;
            self.inner
                .identities
                .put((agent.clone(), op.clone(), version));
            Ok(Some((agent, op, IdentityVersion::at(version))))
        })
    }

    fn list_agents(&self, operator_id: &str) -> StoreFuture<'_, Vec<Agent>> {
        let operator_id = operator_id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            all(&*conn, sql::LIST_AGENTS, &[&operator_id])
                .await?
                .iter()
                .map(rows::agent)
                .collect()
        })
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
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = one(&*conn, sql::COUNT_PENDING_AGENTS, &[&operator_id]).await?;
            let n: i64 = row
                .try_get(0)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn purge_pending_agents(&self, before: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            let n = exec(&tx, sql::PURGE_PENDING_AGENTS, &[&ts(before)]).await?;
            tx.commit().await.map_err(map_err)?;
            Ok(n)
        })
    }

    fn update_agent(
        &self,
        did: &Did,
        expected: AgentStatus,
        update: AgentUpdate,
    ) -> StoreFuture<'_, Agent> {
        let did = did.clone();
        Box::pin(async move {
            let scopes = scopes_column(&update.allowed_scopes);
            let approval = scopes_column(&update.approval_scopes);
            let conn = self.conn().await?;
            let updated = opt(
                &*conn,
                sql::UPDATE_AGENT,
                &[
                    &update.status.as_str(),
                    &scopes,
                    &approval,
                    &ts(update.updated_at),
                    &opt_ts(update.revoked_at),
                    &did.as_str(),
                    &expected.as_str(),
                ],
            )
            .await?;
            match updated {
                Some(row) => rows::agent(&row),
                None => Err(classify_agent_miss(get_agent_row(&*conn, &did).await?)),
            }
        })
    }

    fn list_status_lists(&self) -> StoreFuture<'_, Vec<StatusListInfo>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            all(&*conn, sql::LIST_STATUS_LISTS, &[])
                .await?
                .iter()
                .map(rows::status_list)
                .collect()
        })
    }

    fn get_status_list(&self, list: u64) -> StoreFuture<'_, Option<StatusListInfo>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(&*conn, sql::GET_STATUS_LIST, &[&ts(list)])
                .await?
                .as_ref()
                .map(rows::status_list)
                .transpose()
        })
    }

    fn status_list_flagged(&self, list: u64, now: UnixTime) -> StoreFuture<'_, Vec<FlaggedEntry>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            all(&*conn, sql::STATUS_LIST_FLAGGED, &[&ts(list), &ts(now)])
                .await?
                .iter()
                .map(rows::flagged_entry)
                .collect()
        })
    }

    fn server_secret(&self, name: &str, candidate: Vec<u8>) -> StoreFuture<'_, Vec<u8>> {
        let name = name.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(&*conn, sql::INSERT_SERVER_SECRET, &[&name, &candidate]).await?;
            one(&*conn, sql::GET_SERVER_SECRET, &[&name])
                .await?
                .bytes("value")
        })
    }

    fn redeem_challenge(
        &self,
        id: &str,
        expires_at: UnixTime,
        event: AuditEvent,
        read_at: IdentityVersion,
    ) -> StoreFuture<'_, ()> {
        let id = id.to_owned();
        Box::pin(async move {
            // One statement: the primary key decides single use across replicas, and the audit row
            // commits with it or not at all.
            let credential: [&(dyn ToSql + Sync); 2] = [&id, &ts(expires_at)];
            let statements = (REDEEM_CHALLENGE_WITH_AUDIT, REDEEM_CHALLENGE_AT_VERSION);
            self.redeem(
                statements,
                &credential,
                &event,
                read_at,
                StoreError::AlreadyUsed,
            )
            .await
        })
    }

    fn purge_redeemed_challenges(&self, before: UnixTime, batch: u32) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(
                &*conn,
                sql::PURGE_REDEEMED_CHALLENGES,
                &[&ts(before), &i64::from(batch)],
            )
            .await
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
        Box::pin(async move {
            let conn = self.conn().await?;
            let inserted = exec(
                &*conn,
                sql::INSERT_REQUEST_JTI,
                &[&signer, &jti, &ts(expires_at)],
            )
            .await?;
            if inserted == 1 {
                Ok(())
            } else {
                Err(StoreError::Replayed)
            }
        })
    }

    fn redeem_client_assertion(
        &self,
        signer: &str,
        jti: &str,
        expires_at: UnixTime,
        event: AuditEvent,
        read_at: IdentityVersion,
    ) -> StoreFuture<'_, ()> {
        let (signer, jti) = (signer.to_owned(), jti.to_owned());
        Box::pin(async move {
            let credential: [&(dyn ToSql + Sync); 3] = [&signer, &jti, &ts(expires_at)];
            let statements = (REDEEM_JTI_WITH_AUDIT, REDEEM_JTI_AT_VERSION);
            self.redeem(
                statements,
                &credential,
                &event,
                read_at,
                StoreError::Replayed,
            )
            .await
        })
    }

    fn insert_device_authorization(
        &self,
        a: DeviceAuthorization,
        event: AuditEvent,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let scopes = scopes_column(&a.scopes);
            let granted = scopes_column(&a.granted_scopes);
            let interval = ts(a.interval);
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            exec(
                &tx,
                sql::INSERT_DEVICE_AUTHORIZATION,
                &[
                    &a.device_code_hash,
                    &a.user_code,
                    &a.did.as_str(),
                    &a.operator_id,
                    &scopes,
                    &a.resource,
                    &opt_text_column(&a.binding_message),
                    &a.status.as_str(),
                    &granted,
                    &opt_text_column(&a.decided_by),
                    &interval,
                    &opt_ts(a.last_poll_at),
                    &opt_ts(a.slow_down_at),
                    &ts(a.created_at),
                    &ts(a.expires_at),
                    &opt_ts(a.decided_at),
                    &a.kind.as_str(),
                    &opt_text_column(&a.agent_name),
                ],
            )
            .await?;
            insert_audit(&tx, &event).await?;
            tx.commit().await.map_err(map_err)
        })
    }

    fn get_device_authorization(
        &self,
        user_code: &str,
    ) -> StoreFuture<'_, Option<DeviceAuthorization>> {
        let user_code = user_code.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(
                &*conn,
                sql::DEVICE_AUTHORIZATION_BY_USER_CODE,
                &[&user_code],
            )
            .await?
            .as_ref()
            .map(rows::device_authorization)
            .transpose()
        })
    }

    fn get_registration_request(&self, did: &Did) -> StoreFuture<'_, Option<DeviceAuthorization>> {
        let did = did.as_str().to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(&*conn, sql::REGISTRATION_REQUEST_OF_AGENT, &[&did])
                .await?
                .as_ref()
                .map(rows::device_authorization)
                .transpose()
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
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(
                &*conn,
                sql::POLL_DEVICE_AUTHORIZATION,
                &[&ts(now), &hash, &did.as_str()],
            )
            .await?
            .as_ref()
            .map(rows::device_authorization)
            .transpose()
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
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            // Concurrent updates of the row queue on its lock; each re-checks `status = 'approved'`
            // on the committed version, so exactly one changes it, across replicas.
            let changed = exec(
                &tx,
                sql::REDEEM_DEVICE_CODE,
                &[&ts(now), &hash, &did.as_str()],
            )
            .await?;
            if changed != 1 {
                let row = opt(&tx, sql::DEVICE_AUTHORIZATION_BY_HASH, &[&hash])
                    .await?
                    .as_ref()
                    .map(rows::device_authorization)
                    .transpose()?;
                return Err(super::classify_device_miss(row, &did, now));
            }
            insert_audit(&tx, &event).await?;
            tx.commit().await.map_err(map_err)
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
        let (created_at, code) = after.map_or((-1, String::new()), |(t, c)| (ts(t), c));
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                sql::LIST_PENDING_DEVICE_AUTHORIZATIONS,
                &[
                    &operator_id,
                    &ts(now),
                    &created_at,
                    &code,
                    &i64::from(limit),
                ],
            )
            .await?
            .iter()
            .map(rows::device_authorization)
            .collect()
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
        Box::pin(async move {
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
            let granted = scopes_column(&granted);
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            let decided = opt(
                &tx,
                sql::DECIDE_DEVICE_AUTHORIZATION,
                &[
                    &status.as_str(),
                    &granted,
                    &method,
                    &ts(now),
                    &user_code,
                    &operator_id,
                ],
            )
            .await?;
            let Some(decided) = decided else {
                let row = opt(&tx, sql::DEVICE_AUTHORIZATION_BY_USER_CODE, &[&user_code])
                    .await?
                    .as_ref()
                    .map(rows::device_authorization)
                    .transpose()?;
                return Err(super::classify_decision_miss(row, &operator_id, now));
            };
            let decided = rows::device_authorization(&decided)?;
            if let Some(g) = remember {
                let scopes = scopes_column(&g.scopes);
                exec(
                    &tx,
                    sql::INSERT_REMEMBERED_GRANT,
                    &[
                        &g.id,
                        &g.did.as_str(),
                        &g.operator_id,
                        &g.resource,
                        &scopes,
                        &ts(g.created_at),
                        &ts(g.expires_at),
                        &opt_ts(g.revoked_at),
                    ],
                )
                .await?;
            }
            insert_audit(&tx, &event).await?;
            tx.commit().await.map_err(map_err)?;
            Ok(decided)
        })
    }

    fn expire_device_authorizations(
        &self,
        now: UnixTime,
    ) -> StoreFuture<'_, Vec<DeviceAuthorization>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            all(&*conn, sql::EXPIRE_DEVICE_AUTHORIZATIONS, &[&ts(now)])
                .await?
                .iter()
                .map(rows::device_authorization)
                .collect()
        })
    }

    fn active_remembered_grants(
        &self,
        did: &Did,
        resource: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, Vec<RememberedGrant>> {
        let did = did.clone();
        let resource = resource.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                sql::ACTIVE_REMEMBERED_GRANTS,
                &[&did.as_str(), &resource, &ts(now)],
            )
            .await?
            .iter()
            .map(rows::remembered_grant)
            .collect()
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
        let (created_at, id) = after.map_or((i64::MAX, String::new()), |(t, id)| (ts(t), id));
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                sql::LIST_REMEMBERED_GRANTS,
                &[&operator_id, &ts(now), &created_at, &id, &i64::from(limit)],
            )
            .await?
            .iter()
            .map(rows::remembered_grant)
            .collect()
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
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = opt(
                &*conn,
                sql::REVOKE_REMEMBERED_GRANT,
                &[&ts(now), &id, &operator_id],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
            rows::remembered_grant(&row)
        })
    }

    fn purge_device_state(
        &self,
        device_before: UnixTime,
        grants_before: UnixTime,
    ) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let devices = exec(
                &*conn,
                sql::PURGE_DEVICE_AUTHORIZATIONS,
                &[&ts(device_before)],
            )
            .await?;
            let grants = exec(&*conn, sql::PURGE_REMEMBERED_GRANTS, &[&ts(grants_before)]).await?;
            Ok(devices + grants)
        })
    }

    fn insert_console_link(&self, link: ConsoleLink) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(
                &*conn,
                sql::INSERT_CONSOLE_LINK,
                &[
                    &link.link_hash,
                    &link.operator_id,
                    &ts(link.created_at),
                    &ts(link.expires_at),
                ],
            )
            .await
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
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            let Some(row) = opt(&tx, sql::REDEEM_CONSOLE_LINK, &[&ts(now), &link_hash]).await?
            else {
                let found = opt(&tx, sql::GET_CONSOLE_LINK, &[&link_hash])
                    .await?
                    .map(|r| rows::console_link_state(&r))
                    .transpose()?;
                return Err(rows::console_link_miss(found, now));
            };
            let session = ConsoleSession {
                operator_id: row.text("operator_id")?,
                ..session
            };
            insert_console_session(&tx, &session).await?;
            tx.commit().await.map_err(map_err)?;
            Ok(session)
        })
    }

    fn insert_console_session(&self, session: ConsoleSession) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            insert_console_session(&*conn, &session).await
        })
    }

    fn touch_console_session(
        &self,
        session_hash: &str,
        now: UnixTime,
        idle_before: UnixTime,
    ) -> StoreFuture<'_, Option<ConsoleSession>> {
        let session_hash = session_hash.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(
                &*conn,
                sql::TOUCH_CONSOLE_SESSION,
                &[&ts(now), &session_hash, &ts(idle_before)],
            )
            .await?
            .map(|r| rows::console_session(&r))
            .transpose()
        })
    }

    fn delete_console_session(&self, session_hash: &str) -> StoreFuture<'_, bool> {
        let session_hash = session_hash.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(&*conn, sql::DELETE_CONSOLE_SESSION, &[&session_hash])
                .await
                .map(|n| n == 1)
        })
    }

    fn list_operator_audit(
        &self,
        operator_id: &str,
        limit: u32,
    ) -> StoreFuture<'_, Vec<AuditEvent>> {
        let operator_id = operator_id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                sql::LIST_OPERATOR_AUDIT,
                &[&operator_id, &i64::from(limit)],
            )
            .await?
            .iter()
            .map(rows::audit_event)
            .collect()
        })
    }

    fn insert_passkey(&self, p: StoredPasskey) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(
                &*conn,
                sql::INSERT_PASSKEY,
                &[
                    &p.credential_id,
                    &p.operator_id,
                    &p.passkey,
                    &ts(p.created_at),
                ],
            )
            .await
            .map(|_| ())
        })
    }

    fn list_passkeys(&self, operator_id: &str) -> StoreFuture<'_, Vec<StoredPasskey>> {
        let operator_id = operator_id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            all(&*conn, sql::LIST_PASSKEYS, &[&operator_id])
                .await?
                .iter()
                .map(rows::passkey)
                .collect()
        })
    }

    fn insert_webauthn_ceremony(&self, c: WebauthnCeremony) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(
                &*conn,
                sql::INSERT_WEBAUTHN_CEREMONY,
                &[
                    &c.id,
                    &c.operator_id,
                    &c.purpose,
                    &c.state,
                    &ts(c.expires_at),
                ],
            )
            .await
            .map(|_| ())
        })
    }

    fn take_webauthn_ceremony(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreFuture<'_, Option<WebauthnCeremony>> {
        let id = id.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            opt(&*conn, sql::TAKE_WEBAUTHN_CEREMONY, &[&id, &ts(now)])
                .await?
                .map(|r| rows::webauthn_ceremony(&r))
                .transpose()
        })
    }

    fn revoke_token(&self, t: RevokedToken) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(
                &*conn,
                sql::REVOKE_TOKEN,
                &[
                    &t.jti,
                    &t.did.as_str(),
                    &t.operator_id,
                    &ts(t.expires_at),
                    &ts(t.revoked_at),
                ],
            )
            .await
            .map(|n| n == 1)
        })
    }

    fn set_token_cutoff(&self, subject: &str, at: UnixTime) -> StoreFuture<'_, ()> {
        let subject = subject.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(&*conn, sql::SET_TOKEN_CUTOFF, &[&subject, &ts(at)])
                .await
                .map(drop)
        })
    }

    fn token_cutoff(&self, did: &Did, operator_id: &str) -> StoreFuture<'_, Option<UnixTime>> {
        let (did, operator_id) = (did.as_str().to_owned(), operator_id.to_owned());
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = one(&*conn, sql::TOKEN_CUTOFF, &[&did, &operator_id]).await?;
            let cutoff: Option<i64> = row
                .try_get(0)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(cutoff.and_then(|c| u64::try_from(c).ok()))
        })
    }

    fn is_token_revoked(&self, jti: &str) -> StoreFuture<'_, bool> {
        let jti = jti.to_owned();
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(opt(&*conn, sql::IS_TOKEN_REVOKED, &[&jti]).await?.is_some())
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
        let (revoked_at, jti) = after.map_or((i64::MAX, String::new()), |(t, jti)| (ts(t), jti));
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                sql::LIST_REVOKED_TOKENS_PAGE,
                &[
                    &operator_id,
                    &ts(live_after),
                    &revoked_at,
                    &jti,
                    &i64::from(limit),
                ],
            )
            .await?
            .iter()
            .map(rows::revoked_token)
            .collect()
        })
    }

    fn append_audit(&self, e: AuditEvent) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            insert_audit(&*conn, &e).await
        })
    }

    fn purge_audit(&self, before: UnixTime, batch: u32) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(&*conn, sql::PURGE_AUDIT, &[&i64::from(batch), &ts(before)]).await
        })
    }

    fn list_audit(&self, limit: u32) -> StoreFuture<'_, Vec<AuditEvent>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            all(&*conn, sql::LIST_AUDIT, &[&i64::from(limit)])
                .await?
                .iter()
                .map(rows::audit_event)
                .collect()
        })
    }

    fn load_signing_keys(&self) -> StoreFuture<'_, Vec<SigningKeyRecord>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            all(
                &*conn,
                // Per backend: insertion order is PostgreSQL's `seq` column, SQLite's rowid.
                "SELECT kid, pkcs8_pem, created_at, activates_at, retired_at, not_after FROM signing_keys \
                 ORDER BY created_at, seq",
                &[],
            )
            .await?
            .iter()
            .map(rows::signing_key)
            .collect()
        })
    }

    fn insert_signing_key(&self, key: SigningKeyRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            insert_key(&*conn, &key).await
        })
    }

    fn rotate_signing_key(
        &self,
        new_key: SigningKeyRecord,
        not_after: UnixTime,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let retired_at = ts(new_key.activates_at);
            let mut attempt = 0;
            loop {
                attempt += 1;
                let tx = conn.transaction().await.map_err(map_err)?;
                exec(
                    &tx,
                    sql::RETIRE_SIGNING_KEYS,
                    &[&retired_at, &ts(not_after)],
                )
                .await?;
                // A rotation committed by another replica meanwhile makes the insert collide
                // with its new active key: retry, retiring that one too.
                match insert_key(&tx, &new_key).await {
                    Ok(()) => return tx.commit().await.map_err(map_err),
                    Err(StoreError::Conflict(_)) if attempt < ROTATE_ATTEMPTS => {
                        tx.rollback().await.map_err(map_err)?;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    fn rotate_signing_key_after(
        &self,
        current_kid: &str,
        new_key: SigningKeyRecord,
        not_after: UnixTime,
    ) -> StoreFuture<'_, bool> {
        let current_kid = current_kid.to_owned();
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            // Under READ COMMITTED a concurrent rotation's UPDATE holds the row; once it commits,
            // this one re-reads it, finds it retired and matches nothing.
            let retired = exec(
                &tx,
                sql::RETIRE_NEWEST_SIGNING_KEY,
                &[&ts(new_key.activates_at), &ts(not_after), &current_kid],
            )
            .await?;
            if retired == 0 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
            insert_key(&tx, &new_key).await?;
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    fn purge_retired_signing_keys(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            exec(&*conn, sql::PURGE_RETIRED_SIGNING_KEYS, &[&ts(now)]).await
        })
    }

    fn purge_expired(&self, now: UnixTime) -> StoreFuture<'_, PurgeStats> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(map_err)?;
            let now = ts(now);
            let stats = PurgeStats {
                challenges: 0,
                request_jtis: exec(&tx, sql::PURGE_REQUEST_JTIS, &[&now]).await?,
                revoked_tokens: exec(&tx, sql::PURGE_REVOKED_TOKENS, &[&now]).await?,
                operator_recoveries: exec(&tx, sql::PURGE_OPERATOR_RECOVERIES, &[&now]).await?,
                audit_events: 0,
                pending_agents: 0,
            };
            exec(&tx, sql::PURGE_CONSOLE_LINKS, &[&now]).await?;
            exec(&tx, sql::PURGE_CONSOLE_SESSIONS, &[&now]).await?;
            exec(&tx, sql::PURGE_WEBAUTHN_CEREMONIES, &[&now]).await?;
            tx.commit().await.map_err(map_err)?;
            Ok(stats)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_postgres_migration_per_sqlite_migration() {
        assert_eq!(MIGRATIONS.len(), super::super::sqlite::MIGRATIONS.len());
    }

    #[test]
    fn urls() {
        assert!(is_postgres_url("postgres://u@127.0.0.1:5432/db"));
        assert!(is_postgres_url("PostgreSQL://u@h/db"));
        assert!(!is_postgres_url("./auth4agent.db"));
        let (cfg, _) = parse_url("postgres://u:secret@127.0.0.1:6543/a4a?sslmode=disable").unwrap();
        assert_eq!(describe(&cfg), "127.0.0.1:6543/a4a");
        let (cfg, tls) = parse_url("postgres://u@127.0.0.1/a4a?sslmode=verify-full").unwrap();
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        assert!(parse_url("mysql://u@127.0.0.1/a4a").is_err());
        let store_debug = format!("{cfg:?}");
        assert!(!store_debug.is_empty());
    }
}
