//! auth4agent end-to-end test support beyond the shared [`auth4agent_testkit`] (DNS server, test
//! server, PostgreSQL databases, signing): the CLI run against a home directory ([`kit::Cli`]) and
//! bytes no well-behaved client would send ([`kit::raw`]).

pub mod kit;

pub use kit::{Cli, CliOutput};
