//! End-to-end helpers: runs the real `auth4agent` CLI against a home directory ([`Cli`]) and sends
//! raw bytes to a server ([`raw`]). Servers, DNS, databases and signing come from
//! [`auth4agent_testkit`].

mod cli;
pub mod raw;

pub use cli::{Cli, CliOutput};
