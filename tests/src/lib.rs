//! auth4agent end-to-end test support: a real DNS server on loopback ([`dns::TestDns`]) and a
//! testkit that runs the real `auth4agent-server` and `auth4agent` binaries ([`kit`]).

pub mod dns;
pub mod kit;

pub use dns::{Behavior, TestDns, TxtRecord};
pub use kit::{Cli, CliOutput, TestServer};
