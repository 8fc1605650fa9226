//! Testkit for end-to-end tests: finds (building once if needed) the real `auth4agent-server` and
//! `auth4agent` binaries, runs a server process on a free loopback port with its own SQLite file
//! ([`TestServer`]), and runs the CLI against a home directory ([`Cli`]).
//!
//! Binaries are looked up in the profile directory of the running test binary (which follows
//! `CARGO_TARGET_DIR` and the profile), else in `$CARGO_TARGET_DIR/debug`, else
//! `<workspace>/target/debug`. `AUTH4AGENT_BIN_DIR` overrides the lookup and disables building.
//! When a binary is missing or older than the sources of protocol/, server/ or cli/, the kit runs
//! `cargo build -p auth4agent-server -p auth4agent --bins` once per test process.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tempfile::TempDir;

/// Name of the server binary (package `auth4agent-server`).
pub const SERVER_BIN: &str = "auth4agent-server";
/// Name of the CLI binary (package `auth4agent`).
pub const CLI_BIN: &str = "auth4agent";

/// How long a server may take to answer `/health` after being spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one CLI run may take before it is killed.
const CLI_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// Binaries

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().expect("tests/ has a parent").to_path_buf()
}

/// Path of the `auth4agent-server` binary, built if missing or stale.
pub fn server_bin() -> PathBuf {
    bin_dir().join(exe(SERVER_BIN))
}

/// Path of the `auth4agent` CLI binary, built if missing or stale.
pub fn cli_bin() -> PathBuf {
    bin_dir().join(exe(CLI_BIN))
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// The directory holding both binaries; resolved (and built) once per process.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("AUTH4AGENT_BIN_DIR") {
            let dir = PathBuf::from(dir);
            for name in [SERVER_BIN, CLI_BIN] {
                let path = dir.join(exe(name));
                assert!(path.is_file(), "AUTH4AGENT_BIN_DIR is set but {} does not exist", path.display());
            }
            return dir;
        }
        let dir = profile_dir();
        if needs_build(&dir) {
            build_binaries(&dir);
        }
        dir
    })
}

/// `<target>/<profile>`: taken from the running test binary (`<target>/<profile>/deps/e2e-…`)
/// when possible, so that `CARGO_TARGET_DIR`, `--release` and `--target-dir` are all followed.
fn profile_dir() -> PathBuf {
    if let Ok(current) = std::env::current_exe() {
        if let Some(deps) = current.parent() {
            if deps.file_name() == Some(OsStr::new("deps")) {
                if let Some(profile) = deps.parent() {
                    return profile.to_path_buf();
                }
            }
        }
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    };
    target.join("debug")
}

/// True when a binary is missing or older than any source it is built from.
fn needs_build(dir: &Path) -> bool {
    let oldest_binary = [SERVER_BIN, CLI_BIN]
        .iter()
        .map(|name| std::fs::metadata(dir.join(exe(name))).and_then(|m| m.modified()).ok())
        .collect::<Option<Vec<SystemTime>>>()
        .and_then(|times| times.into_iter().min());
    let Some(oldest_binary) = oldest_binary else { return true };
    let root = workspace_root();
    let mut newest_source = None;
    for path in [root.join("Cargo.lock"), root.join("Cargo.toml")] {
        newest_source = newest_source.max(std::fs::metadata(&path).and_then(|m| m.modified()).ok());
    }
    for krate in ["protocol", "server", "cli"] {
        newest_source = newest_source.max(newest_mtime(&root.join(krate).join("src")));
        newest_source =
            newest_source.max(std::fs::metadata(root.join(krate).join("Cargo.toml")).and_then(|m| m.modified()).ok());
    }
    newest_source.is_some_and(|source| source > oldest_binary)
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let time = if meta.is_dir() { newest_mtime(&entry.path()) } else { meta.modified().ok() };
        newest = newest.max(time);
    }
    newest
}

fn build_binaries(profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command.current_dir(workspace_root()).args(["build", "-p", "auth4agent-server", "-p", "auth4agent", "--bins"]);
    match profile_dir.file_name().and_then(OsStr::to_str) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    if let Some(target) = profile_dir.parent() {
        command.env("CARGO_TARGET_DIR", target);
    }
    eprintln!("e2e: building the server and CLI binaries: {command:?}");
    let status = command.status().unwrap_or_else(|e| panic!("e2e: cannot run {cargo:?} to build the binaries: {e}"));
    assert!(
        status.success(),
        "e2e: `cargo build -p auth4agent-server -p auth4agent --bins` failed ({status}); see the compiler output \
         above. The end-to-end tests need both binaries."
    );
    for name in [SERVER_BIN, CLI_BIN] {
        let path = profile_dir.join(exe(name));
        assert!(path.is_file(), "e2e: the build succeeded but {} does not exist", path.display());
    }
}

/// A free TCP port on 127.0.0.1 (bound then released; the small race is acceptable in tests).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// An HTTP response read completely, for assertions.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The JSON body; panics with the raw body when it is not JSON.
    pub fn json(&self) -> &Value {
        self.json.as_ref().unwrap_or_else(|| panic!("HTTP {}: body is not JSON: {:?}", self.status, self.body))
    }

    /// The `error` code of an error body, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.as_str()
    }
}

/// A small blocking HTTP client bound to one base URL.
#[derive(Clone, Debug)]
pub struct Http {
    base: String,
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new(base: impl Into<String>) -> Http {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the HTTP client");
        Http { base: base.into().trim_end_matches('/').to_owned(), client }
    }

    /// Full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::Result<HttpResponse> {
        read_response(self.client.get(self.url(path)).send()?)
    }

    /// POST with a JSON body and optional extra headers (e.g. `Auth4Agent-Signature`).
    pub fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Result<HttpResponse> {
        self.send("POST", path, Some(body.to_string().into_bytes()), headers)
    }

    /// Any method with a raw body; `Content-Type: application/json` when there is a body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid HTTP method");
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        read_response(request.send()?)
    }
}

fn read_response(response: reqwest::blocking::Response) -> reqwest::Result<HttpResponse> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = response.text()?;
    let json = serde_json::from_str(&body).ok();
    Ok(HttpResponse { status, headers, body, json })
}

// ---------------------------------------------------------------------------------------------
// Signed requests

/// Unix time now. The testkit's one clock (the product takes time as a parameter instead).
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
}

/// A private key read from a CLI home, to sign administrative requests by hand (for refusals the
/// CLI would never send, e.g. an agent signing its own scope change, or a replay).
pub struct Signer {
    key: auth4agent_protocol::SigningKey,
}

impl Signer {
    /// Reads a PKCS#8 PEM key file (e.g. `<home>/keys/agent.key`).
    pub fn from_pem_file(path: &Path) -> Signer {
        let pem = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let key = auth4agent_protocol::SigningKey::from_pkcs8_pem(&pem)
            .unwrap_or_else(|e| panic!("{} is not a PKCS#8 Ed25519 key: {e}", path.display()));
        Signer { key }
    }

    /// RFC 7638 thumbprint of the public key (the `kid` of what it signs).
    pub fn thumbprint(&self) -> String {
        self.key.public_key().thumbprint()
    }

    /// The `Auth4Agent-Signature` value for `method url` with `body`, a fresh `jti`, issued now.
    pub fn sign(&self, method: &str, url: &str, body: &[u8]) -> String {
        let jti = auth4agent_protocol::b64url_encode(&rand::random::<[u8; 16]>());
        auth4agent_protocol::sign_request(&self.key, method, url, body, unix_now(), &jti)
            .unwrap_or_else(|e| panic!("sign {method} {url}: {e}"))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("kid", &self.thumbprint()).finish_non_exhaustive()
    }
}

impl Http {
    /// A request signed by `signer` (`htu` = base URL + path), with an optional JSON body.
    pub fn signed(&self, signer: &Signer, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
        let body = body.map(|b| b.to_string().into_bytes());
        let signature = signer.sign(method, &self.url(path), body.as_deref().unwrap_or_default());
        self.send(method, path, body, &[(auth4agent_protocol::SIGNATURE_HEADER, &signature)])
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Server

/// Options for [`TestServer`] beyond the defaults.
#[derive(Clone, Debug)]
pub struct TestServerBuilder {
    dns: SocketAddr,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl TestServerBuilder {
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
        let dir = tempfile::Builder::new().prefix("auth4agent-e2e-server-").tempdir().expect("server temp dir");
        let mut server = TestServer {
            port: free_port(),
            dns: self.dns,
            args: self.args,
            env: self.env,
            dir,
            child: None,
            http: OnceLock::new(),
            starts: 0,
        };
        server.spawn();
        server
    }
}

/// A real `auth4agent-server` process on 127.0.0.1 with its own SQLite file; killed on drop.
pub struct TestServer {
    port: u16,
    dns: SocketAddr,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    dir: TempDir,
    child: Option<Child>,
    http: OnceLock<Http>,
    starts: u32,
}

impl TestServer {
    /// Starts a server that resolves DNS through `dns` (normally a [`crate::dns::TestDns`]).
    pub fn start(dns: SocketAddr) -> TestServer {
        TestServer::builder(dns).start()
    }

    /// A server with extra arguments or environment.
    pub fn builder(dns: SocketAddr) -> TestServerBuilder {
        TestServerBuilder { dns, args: Vec::new(), env: Vec::new() }
    }

    /// `http://127.0.0.1:PORT`, which is also the issuer.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The SQLite database file.
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
    /// (`auth4agent-server --db <db> ARGS…`, e.g. `keys rotate`) and returns its output.
    pub fn admin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> std::process::Output {
        let mut command = Command::new(server_bin());
        command.arg("--db").arg(self.db_path()).args(args).current_dir(self.dir.path()).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AUTH4AGENT_") {
                command.env_remove(key);
            }
        }
        command.output().unwrap_or_else(|e| panic!("run {}: {e}", server_bin().display()))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The command line used to start the server (standard arguments, then extra ones).
    pub fn command_line(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--listen".into(),
            format!("127.0.0.1:{}", self.port).into(),
            "--db".into(),
            self.db_path().into(),
            "--issuer".into(),
            self.url().into(),
            "--dns-server".into(),
            self.dns.to_string().into(),
        ];
        args.extend(self.args.iter().cloned());
        args
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let mut log = File::options().create(true).append(true).open(self.log_path()).expect("open the server log");
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
        let child = command.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", server_bin().display()));
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let http = Http::new(self.url());
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().expect("wait for the server") {
                    self.child = None;
                    panic!(
                        "auth4agent-server exited during startup ({status})\ncommand: {:?}\n--- server log ---\n{}",
                        self.command_line(),
                        self.log()
                    );
                }
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
            eprintln!("--- auth4agent-server log ({}) ---\n{}", self.url(), self.log());
        }
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer").field("url", &self.url()).field("db", &self.db_path()).finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// CLI

/// The result of one CLI run.
#[derive(Clone, Debug)]
pub struct CliOutput {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// stdout parsed as one JSON document, when it is one.
    pub json: Option<Value>,
}

impl CliOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout and stderr together, for "the output mentions X" assertions.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The JSON document on stdout; panics (showing the whole run) when there is none.
    pub fn json(&self) -> &Value {
        self.json.as_ref().unwrap_or_else(|| panic!("stdout is not one JSON document\n{self}"))
    }

    /// The stable `error` code of the JSON document (`--json` errors and invalid `verify` results).
    pub fn error_code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.as_str()
    }

    /// Asserts that the JSON document's `error` is `code`; returns `self`.
    #[track_caller]
    pub fn assert_error(&self, code: &str) -> &Self {
        assert_eq!(self.error_code(), Some(code), "expected error code {code:?}\n{self}");
        self
    }

    /// Asserts that stdout or stderr contains `needle` (case-insensitive); returns `self`.
    #[track_caller]
    pub fn assert_mentions(&self, needle: &str) -> &Self {
        assert!(
            self.text().to_lowercase().contains(&needle.to_lowercase()),
            "expected the output to mention {needle:?}\n{self}"
        );
        self
    }
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: auth4agent {}", self.args.join(" "))?;
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// Runs the real `auth4agent` binary with `--home <dir>` (and `--json` unless [`Cli::human`]).
#[derive(Clone, Debug)]
pub struct Cli {
    home: PathBuf,
    server_url: String,
    json: bool,
    env: Vec<(OsString, OsString)>,
}

impl Cli {
    /// A CLI bound to `home` (created by the CLI itself on `init` if it does not exist) that talks
    /// to `server_url`.
    pub fn new(home: impl Into<PathBuf>, server_url: impl Into<String>) -> Cli {
        Cli { home: home.into(), server_url: server_url.into(), json: true, env: Vec::new() }
    }

    /// The same CLI without `--json` (human output).
    pub fn human(&self) -> Cli {
        Cli { json: false, ..self.clone() }
    }

    /// The same CLI with an extra environment variable.
    pub fn with_env(&self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cli {
        let mut cli = self.clone();
        cli.env.push((key.into(), value.into()));
        cli
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Runs `auth4agent --home DIR [--json] ARGS…` with no standard input.
    pub fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> CliOutput {
        self.run_with_stdin(args, None)
    }

    /// Runs with `stdin` as standard input (for `--token -`).
    pub fn run_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I, stdin: &str) -> CliOutput {
        self.run_with_stdin(args, Some(stdin))
    }

    /// Runs and asserts exit 0 and one JSON document on stdout; returns it.
    #[track_caller]
    pub fn ok_json<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Value {
        Self::expect_ok(self.run(args))
    }

    /// [`Cli::ok_json`] with standard input.
    #[track_caller]
    pub fn ok_json_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I, stdin: &str) -> Value {
        Self::expect_ok(self.run_stdin(args, stdin))
    }

    /// Runs and asserts a non-zero exit; returns the output for further checks.
    #[track_caller]
    pub fn fail<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> CliOutput {
        Self::expect_failure(self.run(args))
    }

    /// [`Cli::fail`] with standard input.
    #[track_caller]
    pub fn fail_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I, stdin: &str) -> CliOutput {
        Self::expect_failure(self.run_stdin(args, stdin))
    }

    /// Runs, asserts a non-zero exit and the JSON `error` code `code`; returns the output.
    #[track_caller]
    pub fn fail_with<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I, code: &str) -> CliOutput {
        let output = self.fail(args);
        output.assert_error(code);
        output
    }

    /// [`Cli::fail_with`] with standard input.
    #[track_caller]
    pub fn fail_with_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
        stdin: &str,
        code: &str,
    ) -> CliOutput {
        let output = self.fail_stdin(args, stdin);
        output.assert_error(code);
        output
    }

    /// `init --operator --domain D --server URL`; returns its JSON.
    #[track_caller]
    pub fn init_operator(&self, domain: &str) -> Value {
        self.ok_json(["init", "--operator", "--domain", domain, "--server", &self.server_url])
    }

    /// `init --domain D --server URL` (an agent identity); returns its JSON.
    #[track_caller]
    pub fn init_agent(&self, domain: &str) -> Value {
        self.ok_json(["init", "--domain", domain, "--server", &self.server_url])
    }

    #[track_caller]
    fn expect_ok(output: CliOutput) -> Value {
        assert!(output.success(), "expected exit 0\n{output}");
        output.json().clone()
    }

    #[track_caller]
    fn expect_failure(output: CliOutput) -> CliOutput {
        assert!(!output.success(), "expected a non-zero exit\n{output}");
        assert!(output.code().is_some(), "the CLI was killed by a signal instead of exiting\n{output}");
        output
    }

    fn run_with_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I, stdin: Option<&str>) -> CliOutput {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut command = Command::new(cli_bin());
        command.arg("--home").arg(&self.home);
        if self.json {
            command.arg("--json");
        }
        command.args(&args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AUTH4AGENT_") {
                command.env_remove(key);
            }
        }
        // Never touch the real ~/.auth4agent, even if --home were ignored.
        if let Some(parent) = self.home.parent() {
            command.env("HOME", parent);
        }
        command.env("NO_COLOR", "1");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", cli_bin().display()));

        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            // The CLI may exit before reading everything (e.g. a usage error): ignore EPIPE.
            let _ = pipe.write_all(input.as_bytes());
        }

        let deadline = Instant::now() + CLI_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the CLI") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`auth4agent {}` did not finish within {CLI_TIMEOUT:?}", display_args(&args));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        let json = serde_json::from_str(stdout.trim()).ok();
        CliOutput { args: args.iter().map(|a| a.to_string_lossy().into_owned()).collect(), status, stdout, stderr, json }
    }
}

fn display_args(args: &[OsString]) -> String {
    args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// Reads a pipe to the end on its own thread, so a full pipe never blocks the child.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
