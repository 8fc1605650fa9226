//! [`Cli`]: runs the real `auth4agent` binary with `--home <dir>` (and `--json`), capturing exit
//! status, stdout, stderr and the JSON document.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use auth4agent_testkit::cli_bin;

/// How long one CLI run may take before it is killed.
const CLI_TIMEOUT: Duration = Duration::from_secs(90);

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
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("stdout is not one JSON document\n{self}"))
    }

    /// The stable `error` code of the JSON document (`--json` errors and invalid `verify` results).
    pub fn error_code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.as_str()
    }

    /// Asserts that the JSON document's `error` is `code`; returns `self`.
    #[track_caller]
    pub fn assert_error(&self, code: &str) -> &Self {
        assert_eq!(
            self.error_code(),
            Some(code),
            "expected error code {code:?}\n{self}"
        );
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
    /// `--issuer` on every run, when the server's issuer is not its URL.
    issuer: Option<String>,
}

impl Cli {
    /// A CLI bound to `home` (created by the CLI itself on `init` if it does not exist) that talks
    /// to `server_url`.
    pub fn new(home: impl Into<PathBuf>, server_url: impl Into<String>) -> Cli {
        Cli {
            home: home.into(),
            server_url: server_url.into(),
            json: true,
            env: Vec::new(),
            issuer: None,
        }
    }

    /// The same CLI passing `--issuer ISSUER` on every run (a replica reached at its own URL).
    pub fn with_issuer(&self, issuer: impl Into<String>) -> Cli {
        Cli {
            issuer: Some(issuer.into()),
            ..self.clone()
        }
    }

    /// The same CLI without `--json` (human output).
    pub fn human(&self) -> Cli {
        Cli {
            json: false,
            ..self.clone()
        }
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
    pub fn run_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
        stdin: &str,
    ) -> CliOutput {
        self.run_with_stdin(args, Some(stdin))
    }

    /// Runs and asserts exit 0 and one JSON document on stdout; returns it.
    #[track_caller]
    pub fn ok_json<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Value {
        Self::expect_ok(self.run(args))
    }

    /// [`Cli::ok_json`] with standard input.
    #[track_caller]
    pub fn ok_json_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
        stdin: &str,
    ) -> Value {
        Self::expect_ok(self.run_stdin(args, stdin))
    }

    /// Runs and asserts a non-zero exit; returns the output for further checks.
    #[track_caller]
    pub fn fail<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> CliOutput {
        Self::expect_failure(self.run(args))
    }

    /// [`Cli::fail`] with standard input.
    #[track_caller]
    pub fn fail_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
        stdin: &str,
    ) -> CliOutput {
        Self::expect_failure(self.run_stdin(args, stdin))
    }

    /// Runs, asserts a non-zero exit and the JSON `error` code `code`; returns the output.
    #[track_caller]
    pub fn fail_with<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
        code: &str,
    ) -> CliOutput {
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
        self.ok_json([
            "init",
            "--operator",
            "--domain",
            domain,
            "--server",
            &self.server_url,
        ])
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
        assert!(
            output.code().is_some(),
            "the CLI was killed by a signal instead of exiting\n{output}"
        );
        output
    }

    fn run_with_stdin<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        args: I,
        stdin: Option<&str>,
    ) -> CliOutput {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut command = Command::new(cli_bin());
        command.arg("--home").arg(&self.home);
        if self.json {
            command.arg("--json");
        }
        if let Some(issuer) = &self.issuer {
            command.arg("--issuer").arg(issuer);
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
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", cli_bin().display()));

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
                panic!(
                    "`auth4agent {}` did not finish within {CLI_TIMEOUT:?}",
                    display_args(&args)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        let json = serde_json::from_str(stdout.trim()).ok();
        CliOutput {
            args: args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            status,
            stdout,
            stderr,
            json,
        }
    }
}

fn display_args(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a pipe to the end on its own thread, so a full pipe never blocks the child.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
