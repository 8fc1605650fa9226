//! The storage backend under test, and throwaway PostgreSQL databases.
//!
//! `AUTH4AGENT_TEST_BACKEND` picks the backend of every [`crate::TestServer`]: `sqlite` (default) or
//! `postgres`. With `postgres`, each server gets its own fresh database (`CREATE DATABASE a4a_test_…`
//! on the cluster named by `AUTH4AGENT_TEST_DATABASE_URL`), dropped when the server is. Tests that
//! need PostgreSQL whatever the backend (the server's store tests, several replicas on one database)
//! call [`TestDatabase::create`]; without the variable they fail with instructions, never skip.
//!
//! The admin statements run on a thread of their own, so [`TestDatabase`] is created and dropped
//! the same way from plain `#[test]`s and from inside a tokio runtime.

use std::fmt;

/// Which database the server processes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// From `AUTH4AGENT_TEST_BACKEND` (`sqlite` when unset). Panics on an unknown value.
    pub fn from_env() -> Backend {
        match std::env::var("AUTH4AGENT_TEST_BACKEND") {
            Err(_) => Backend::Sqlite,
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "sqlite" => Backend::Sqlite,
                "postgres" | "postgresql" => Backend::Postgres,
                other => panic!("AUTH4AGENT_TEST_BACKEND={other:?}: use sqlite or postgres"),
            },
        }
    }
}

/// The admin URL of the test cluster (a role that may create databases), or a panic that says how
/// to get one.
pub fn test_database_url() -> String {
    match std::env::var("AUTH4AGENT_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => panic!(
            "AUTH4AGENT_TEST_DATABASE_URL is not set: this test needs a PostgreSQL server.\n\
             Start a throwaway one with `bash scripts/postgres.sh start` (needs `apt-get install -y postgresql`) \
             and export the URL it prints, or run `bash scripts/test.sh`, which does both."
        ),
    }
}

/// `url` with its database name replaced by `db` (URL form: `postgres://user@host:port/db?params`).
pub fn with_dbname(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Runs one batch of SQL on the admin database, on a thread with its own runtime (callable from
/// inside another runtime, where `block_on` would panic).
fn admin_sql(sql: &str) -> Result<(), String> {
    let admin = test_database_url();
    std::thread::scope(|scope| {
        scope
            .spawn(|| admin_sql_blocking(&admin, sql))
            .join()
            .unwrap_or_else(|_| Err("the admin SQL thread panicked".to_owned()))
    })
}

fn admin_sql_blocking(admin: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to AUTH4AGENT_TEST_DATABASE_URL: {e}"))?;
        let conn = tokio::spawn(connection);
        let result = client.batch_execute(sql).await.map_err(|e| e.to_string());
        drop(client);
        let _ = conn.await;
        result
    })
}

/// A fresh PostgreSQL database, dropped (connections included) when this value is.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `a4a_test_<random>` on the test cluster (panics with instructions when
    /// `AUTH4AGENT_TEST_DATABASE_URL` is not set).
    pub fn create() -> TestDatabase {
        let name = format!("a4a_test_{:016x}", rand::random::<u64>());
        admin_sql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let url = with_dbname(&test_database_url(), &name);
        TestDatabase { name, url }
    }

    /// The `postgres://` URL of this database, for `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("testkit: dropping test database {}: {e}", self.name);
        }
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
