//! [`TestServer`]: a real `auth4agent-server` process on a free loopback port with its own database
//! (a SQLite file, or a fresh PostgreSQL database when `AUTH4AGENT_TEST_BACKEND=postgres`; see
//! [`super::postgres`]) and log, started, stopped (SIGTERM or SIGKILL) and restarted on the same
//! database. Several servers may share one PostgreSQL database ([`TestServerBuilder::database_url`]).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::bins::{free_port, server_bin};
use super::http::Http;
use super::postgres::{Backend, TestDatabase};

/// How long a server may take to answer `/health` after being spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// Options for [`TestServer`] beyond the defaults.
#[derive(Clone, Debug)]
pub struct TestServerBuilder {
    dns: SocketAddr,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    backend: Backend,
    database_url: Option<String>,
    issuer: Option<String>,
}

impl TestServerBuilder {
    /// `--issuer` other than the server's own URL: replicas behind one public URL share it. `{port}` in it
    /// becomes the server's port (`http://localhost:{port}`: a host name, as WebAuthn needs).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Runs on `backend` instead of the one `AUTH4AGENT_TEST_BACKEND` names.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Runs on this existing PostgreSQL database (shared with other servers: replicas), which the
    /// caller owns.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.backend = Backend::Postgres;
        self.database_url = Some(url.into());
        self
    }

    /// An extra command-line argument (after the standard ones).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Extra command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for the server process.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Spawns the server and waits until `/health` answers 200.
    pub fn start(self) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("auth4agent-e2e-server-")
            .tempdir()
            .expect("server temp dir");
        let (database_url, database) = match (self.backend, self.database_url) {
            (Backend::Sqlite, _) => (None, None),
            (Backend::Postgres, Some(url)) => (Some(url), None),
            (Backend::Postgres, None) => {
                let db = TestDatabase::create();
                (Some(db.url().to_owned()), Some(db))
            }
        };
        let mut server = TestServer {
            issuer: self.issuer,
            database_url,
            database,
            port: free_port(),
            dns: self.dns,
            args: self.args,
            env: self.env,
            dir,
            child: None,
            http: OnceLock::new(),
            starts: 0,
            port_retries: 0,
        };
        server.spawn();
        server
    }
}

/// A real `auth4agent-server` process on 127.0.0.1 with its own database; killed on drop.
pub struct TestServer {
    /// `--issuer` when it is not [`TestServer::url`].
    issuer: Option<String>,
    /// `--database-url` when on PostgreSQL.
    database_url: Option<String>,
    /// The database this server created, dropped after the process is killed (field order).
    database: Option<TestDatabase>,
    port: u16,
    dns: SocketAddr,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    dir: TempDir,
    child: Option<Child>,
    http: OnceLock<Http>,
    starts: u32,
    /// First-start retries after another process took the chosen port.
    port_retries: u32,
}

impl TestServer {
    /// Starts a server that resolves DNS through `dns` (normally a [`crate::dns::TestDns`]).
    pub fn start(dns: SocketAddr) -> TestServer {
        TestServer::builder(dns).start()
    }

    /// A server with extra arguments or environment.
    pub fn builder(dns: SocketAddr) -> TestServerBuilder {
        TestServerBuilder {
            dns,
            args: Vec::new(),
            env: Vec::new(),
            backend: Backend::from_env(),
            database_url: None,
            issuer: None,
        }
    }

    /// `http://127.0.0.1:PORT`, which is also the issuer.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The issuer URL (`iss` of its tokens, base of signed-request `htu`): [`TestServer::url`]
    /// unless the builder set another.
    pub fn issuer(&self) -> String {
        self.issuer
            .as_ref()
            .map(|issuer| issuer.replace("{port}", &self.port.to_string()))
            .unwrap_or_else(|| self.url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage backend this server runs on.
    pub fn backend(&self) -> Backend {
        if self.database_url.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The PostgreSQL database URL (`--database-url`), when on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The SQLite database file (on PostgreSQL it is never created).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("auth4agent.db")
    }

    /// The server's private directory (database, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The DNS server the server resolves through.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns
    }

    /// A client for this server's HTTP API.
    pub fn http(&self) -> &Http {
        self.http.get_or_init(|| Http::new(self.url()))
    }

    /// Everything the server wrote to stdout and stderr so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the first start failed only because another process took the chosen port.
    fn port_was_taken(&self) -> bool {
        const MAX_PORT_RETRIES: u32 = 5;
        if self.starts != 1 || self.port_retries >= MAX_PORT_RETRIES {
            return false;
        }
        let log = self.log();
        let this_start = log.rsplit("=== e2e: start #").next().unwrap_or("");
        this_start.contains("cannot listen on") && this_start.contains("Address already in use")
    }

    /// The process id of the running server, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL: no graceful shutdown at all (a crash). Returns the exit status.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGTERM, then waits for the process to exit (graceful shutdown). Panics if it does not
    /// exit in time. Returns the exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run `kill -TERM`");
        assert!(status.success(), "`kill -TERM {}` failed", child.id());
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "auth4agent-server did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM\n--- server log ---\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server gracefully (if running) and starts it again on the same port and database.
    pub fn restart(&mut self) {
        self.terminate();
        self.spawn();
    }

    /// Starts the server again after [`TestServer::kill`] or [`TestServer::terminate`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        self.spawn();
    }

    /// Runs an administrative subcommand of the server binary on this server's database
    /// (`auth4agent-server --db <db> ARGS…` or `--database-url <url> ARGS…`, e.g. `keys rotate`)
    /// and returns its output.
    pub fn admin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
    ) -> std::process::Output {
        let mut command = Command::new(server_bin());
        command
            .args(self.database_args())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AUTH4AGENT_") {
                command.env_remove(key);
            }
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", server_bin().display()))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// `--db <file>` or `--database-url <url>`.
    fn database_args(&self) -> Vec<OsString> {
        match &self.database_url {
            Some(url) => vec!["--database-url".into(), url.into()],
            None => vec!["--db".into(), self.db_path().into()],
        }
    }

    /// The command line used to start the server (standard arguments, then extra ones).
    pub fn command_line(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> =
            vec!["--listen".into(), format!("127.0.0.1:{}", self.port).into()];
        args.extend(self.database_args());
        args.extend([
            OsString::from("--issuer"),
            self.issuer().into(),
            "--dns-server".into(),
            self.dns.to_string().into(),
        ]);
        args.extend(self.args.iter().cloned());
        args
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the server log");
        writeln!(log, "=== e2e: start #{} ===", self.starts).expect("write the server log");
        let mut command = Command::new(server_bin());
        command
            .args(self.command_line())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone the log handle")))
            .stderr(Stdio::from(log));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AUTH4AGENT_") {
                command.env_remove(key);
            }
        }
        command.env("NO_COLOR", "1");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", server_bin().display()));
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let http = Http::new(self.url());
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("wait for the server")
            {
                self.child = None;
                if self.port_was_taken() {
                    // free_port() releases the port before the server binds it, so a concurrent
                    // test can take it first. On the first start nobody has seen the URL yet:
                    // pick another port and start again.
                    self.port_retries += 1;
                    self.port = free_port();
                    self.starts -= 1;
                    self.spawn();
                    return;
                }
                panic!(
                    "auth4agent-server exited during startup ({status})\ncommand: {:?}\n--- server log ---\n{}",
                    self.command_line(),
                    self.log()
                );
            }
            let last = match http.get("/health") {
                Ok(response) if response.status == 200 => return,
                Ok(response) => format!("HTTP {}: {}", response.status, response.body),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "auth4agent-server did not answer GET /health with 200 within {STARTUP_TIMEOUT:?} (last: {last})\n\
                     command: {:?}\n--- server log ---\n{}",
                    self.command_line(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.kill().is_some() && std::thread::panicking() {
            // The test failed: the server's side of the story is usually the useful part.
            eprintln!(
                "--- auth4agent-server log ({}) ---\n{}",
                self.url(),
                self.log()
            );
        }
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url())
            .field("backend", &self.backend())
            .field("database", &self.database)
            .field("db", &self.db_path())
            .finish_non_exhaustive()
    }
}
