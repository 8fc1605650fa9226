//! Running the pinned third-party Python programs of the e2e suite: the check that their requirements are
//! installed at their pinned versions (installed by `scripts/test.sh`; missing ones fail a test, never skip it),
//! and one bounded `python3` run.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one Python client run may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails (never skips) unless python3 has every pinned requirement of `requirements` (files relative to the
/// repository) at its pinned version.
pub fn require_python_deps(requirements: &[&str]) {
    let script = "import sys, re, importlib.metadata as m\n\
                  bad = []\n\
                  for path in sys.argv[1:]:\n\
                  \x20   for line in open(path):\n\
                  \x20       line = line.split('#')[0].strip()\n\
                  \x20       if not line: continue\n\
                  \x20       name, want = re.fullmatch(r'([A-Za-z0-9_.-]+)(?:\\[.*\\])?==(\\S+)', line).groups()\n\
                  \x20       try: have = m.version(name)\n\
                  \x20       except m.PackageNotFoundError: have = None\n\
                  \x20       if have != want: bad.append(f'{name}=={want} (installed: {have})')\n\
                  print('; '.join(bad))\n\
                  sys.exit(1 if bad else 0)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(requirements)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3, then run `bash scripts/test.sh`")
        });
    assert!(
        out.status.success(),
        "the pinned Python dependencies of the OAuth client tests are missing or at other versions: {}{}\n\
         run `bash scripts/test.sh` (it installs {})",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr),
        requirements.join(" and "),
    );
}

/// A finished Python run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON document the examples print on stdout.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `python3 -u SCRIPT ARGS…` in the repository, killed after [`CLIENT_TIMEOUT`].
pub fn python(script: &str, args: &[&str]) -> Run {
    python_with(script, args, &[], CLIENT_TIMEOUT)
}

/// [`python`] with environment variables and another time bound (a browser session takes longer).
pub fn python_with(script: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let mut child = Command::new("python3")
        .arg("-u")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 {script}: {e}"));
    let started = Instant::now();
    // The outputs are small; read them after exit (or after the kill).
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().expect("wait");
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    };
    assert!(
        started.elapsed() <= timeout,
        "{script} did not finish in {timeout:?}\n{run}"
    );
    run
}
