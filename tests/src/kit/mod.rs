//! Testkit for end-to-end tests: finds (building once if needed) the real `auth4agent-server` and
//! `auth4agent` binaries ([`bins`]), runs a server process on a free loopback port with its own
//! SQLite file or PostgreSQL database ([`TestServer`], [`postgres`]), runs the CLI against a home
//! directory ([`Cli`]), and talks HTTP to the server, signing requests by hand when a test needs to
//! ([`Http`], [`Signer`]), or sending bytes no well-behaved client would ([`raw`]).

pub mod bins;
mod cli;
mod http;
pub mod postgres;
pub mod raw;
mod server;

pub use bins::{CLI_BIN, SERVER_BIN, bin_dir, cli_bin, free_port, server_bin, workspace_root};
pub use cli::{Cli, CliOutput};
pub use http::{Http, HttpResponse, Signer, unix_now};
pub use postgres::{Backend, TestDatabase, test_database_url};
pub use server::{TestServer, TestServerBuilder};
