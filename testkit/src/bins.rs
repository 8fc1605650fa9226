//! Where the workspace binaries are, building them once per test process when missing or stale.
//!
//! Binaries are looked up in the profile directory of the running test binary (which follows
//! `CARGO_TARGET_DIR` and the profile), else in `$CARGO_TARGET_DIR/debug`, else
//! `<workspace>/target/debug`. `AUTH4AGENT_BIN_DIR` overrides the lookup and disables building.
//! When a binary is missing or older than the sources of protocol/, server/ or cli/, this runs
//! `cargo build -p auth4agent-server -p auth4agent --bins` once (guarded by a `OnceLock`).
//! [`example_bin`] builds a Cargo example target (such as the protocol crate's `verify_token`) the
//! same way, on each call (cargo does nothing when it is fresh).

use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Name of the server binary (package `auth4agent-server`).
pub const SERVER_BIN: &str = "auth4agent-server";
/// Name of the CLI binary (package `auth4agent`).
pub const CLI_BIN: &str = "auth4agent";

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("testkit/ has a parent")
        .to_path_buf()
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
                assert!(
                    path.is_file(),
                    "AUTH4AGENT_BIN_DIR is set but {} does not exist",
                    path.display()
                );
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
    if let Ok(current) = std::env::current_exe()
        && let Some(deps) = current.parent()
        && deps.file_name() == Some(OsStr::new("deps"))
        && let Some(profile) = deps.parent()
    {
        return profile.to_path_buf();
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
        .map(|name| {
            std::fs::metadata(dir.join(exe(name)))
                .and_then(|m| m.modified())
                .ok()
        })
        .collect::<Option<Vec<SystemTime>>>()
        .and_then(|times| times.into_iter().min());
    let Some(oldest_binary) = oldest_binary else {
        return true;
    };
    let root = workspace_root();
    let mut newest_source = None;
    for path in [root.join("Cargo.lock"), root.join("Cargo.toml")] {
        newest_source = newest_source.max(std::fs::metadata(&path).and_then(|m| m.modified()).ok());
    }
    for krate in ["protocol", "server", "cli"] {
        newest_source = newest_source.max(newest_mtime(&root.join(krate).join("src")));
        newest_source = newest_source.max(
            std::fs::metadata(root.join(krate).join("Cargo.toml"))
                .and_then(|m| m.modified())
                .ok(),
        );
    }
    newest_source.is_some_and(|source| source > oldest_binary)
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let time = if meta.is_dir() {
            newest_mtime(&entry.path())
        } else {
            meta.modified().ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// Path of example `name` of `package` (`<profile>/examples/<name>`), built first. With
/// `AUTH4AGENT_BIN_DIR` set, it is taken from `$AUTH4AGENT_BIN_DIR/examples/` and never built.
pub fn example_bin(package: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("AUTH4AGENT_BIN_DIR") {
        let path = PathBuf::from(dir).join("examples").join(exe(name));
        assert!(
            path.is_file(),
            "AUTH4AGENT_BIN_DIR is set but {} does not exist",
            path.display()
        );
        return path;
    }
    let dir = profile_dir();
    let mut command = cargo_build(&dir, &["-p", package, "--example", name]);
    eprintln!("testkit: building example {name}: {command:?}");
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("testkit: cannot run cargo to build example {name}: {e}"));
    assert!(
        status.success(),
        "testkit: `cargo build -p {package} --example {name}` failed ({status}); see the compiler output above"
    );
    let path = dir.join("examples").join(exe(name));
    assert!(
        path.is_file(),
        "testkit: the build succeeded but {} does not exist",
        path.display()
    );
    path
}

/// `cargo build <args>` for the profile and target directory `profile_dir` belongs to.
fn cargo_build(profile_dir: &Path, args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        .arg("build")
        .args(args);
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
    command
}

fn build_binaries(profile_dir: &Path) {
    let mut command = cargo_build(
        profile_dir,
        &["-p", "auth4agent-server", "-p", "auth4agent", "--bins"],
    );
    eprintln!("testkit: building the server and CLI binaries: {command:?}");
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("testkit: cannot run cargo to build the binaries: {e}"));
    assert!(
        status.success(),
        "testkit: `cargo build -p auth4agent-server -p auth4agent --bins` failed ({status}); see the compiler output \
         above. The end-to-end tests need both binaries."
    );
    for name in [SERVER_BIN, CLI_BIN] {
        let path = profile_dir.join(exe(name));
        assert!(
            path.is_file(),
            "testkit: the build succeeded but {} does not exist",
            path.display()
        );
    }
}

/// A free TCP port on 127.0.0.1 (bound then released; the small race is acceptable in tests).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
