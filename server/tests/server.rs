//! THE server integration-test binary: one process, one link step (kanidm's pattern). Modules by
//! subject live in `server/`:
//! - `harness`: the in-process router over a real SQLite file, a manual clock and the testkit's DNS;
//! - `api`: every endpoint through the router;
//! - `dns`: the DNS verifier against the testkit's loopback DNS server;
//! - `oauth`: RFC 8414 metadata and the client-credentials token endpoint;
//! - `dpop`: DPoP proofs on both token paths (RFC 9449 §5);
//! - `device`: the device authorization grant (RFC 8628) and the operator's approvals;
//! - `status_lists`: the Token Status Lists and the entries tokens name;
//! - `store_contract`: the store contract, each test run on SQLite and on PostgreSQL;
//! - `store_sqlite`, `store_postgres`: what only one backend has; `store_rows`: row builders.
//!
//! The PostgreSQL tests need `AUTH4AGENT_TEST_DATABASE_URL`; without it they fail with
//! instructions, never skip.

#[path = "server/harness.rs"]
mod harness;

#[path = "server/api.rs"]
mod api;
#[path = "server/console.rs"]
mod console;
#[path = "server/device.rs"]
mod device;
#[path = "server/dns.rs"]
mod dns;
#[path = "server/dpop.rs"]
mod dpop;
#[path = "server/oauth.rs"]
mod oauth;
#[path = "server/status_lists.rs"]
mod status_lists;
#[path = "server/store_contract.rs"]
mod store_contract;
#[path = "server/store_postgres.rs"]
mod store_postgres;
#[path = "server/store_rows.rs"]
mod store_rows;
#[path = "server/store_sqlite.rs"]
mod store_sqlite;
