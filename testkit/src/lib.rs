//! auth4agent testkit: what every test tree of the workspace shares.
//!
//! - [`dns`]: [`TestDns`], one loopback DNS server (UDP and TCP) serving TXT records that a test
//!   changes at runtime, with failure modes ([`Behavior`]);
//! - [`postgres`]: the backend under test ([`Backend`]) and throwaway PostgreSQL databases
//!   ([`TestDatabase`]), failing with instructions when no server is configured;
//! - [`bins`] and [`server`]: the real `auth4agent-server` binary run as a process on a free port
//!   ([`TestServer`]), and example targets built on demand ([`example_bin`]);
//! - [`http`]: a small blocking HTTP client for that server;
//! - [`sign`]: signed requests and proofs made with the protocol crate, with fresh jtis.
//!
//! It does not depend on `auth4agent-server`: the server's own tests use it.

pub mod bins;
pub mod clock;
pub mod dns;
pub mod http;
pub mod postgres;
pub mod server;
pub mod sign;

pub use bins::{
    CLI_BIN, SERVER_BIN, bin_dir, cli_bin, example_bin, free_port, server_bin, workspace_root,
};
pub use clock::unix_now;
pub use dns::{Behavior, TestDns, TxtRecord};
pub use http::{Http, HttpResponse};
pub use postgres::{Backend, TestDatabase, test_database_url};
pub use server::{TestServer, TestServerBuilder};
pub use sign::{ProofRequest, Signer, fresh_jti};
