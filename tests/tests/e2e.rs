//! THE end-to-end test binary: real `auth4agent-server` and `auth4agent` processes, real SQLite
//! files, and a real DNS server on loopback ([`auth4agent_testkit::TestDns`]).
//!
//! Modules by subject live in `e2e/`; `support` holds the shared fixtures (a DNS server, a server,
//! CLI homes, the quick-start steps).

#[path = "e2e/support.rs"]
mod support;

#[path = "e2e/api.rs"]
mod api;
#[path = "e2e/cli_http.rs"]
mod cli_http;
#[path = "e2e/client_credentials.rs"]
mod client_credentials;
#[path = "e2e/console.rs"]
mod console;
#[path = "e2e/device.rs"]
mod device;
#[path = "e2e/dns.rs"]
mod dns;
#[path = "e2e/dns_verification.rs"]
mod dns_verification;
#[path = "e2e/hardening_connections.rs"]
mod hardening_connections;
#[path = "e2e/hardening_crash.rs"]
mod hardening_crash;
#[path = "e2e/hardening_hostile.rs"]
mod hardening_hostile;
#[path = "e2e/hardening_ratelimit.rs"]
mod hardening_ratelimit;
#[path = "e2e/hardening_replay.rs"]
mod hardening_replay;
#[path = "e2e/hardening_secrets.rs"]
mod hardening_secrets;
#[path = "e2e/hardening_support.rs"]
mod hardening_support;
#[path = "e2e/interop.rs"]
mod interop;
#[path = "e2e/issuer_check.rs"]
mod issuer_check;
#[path = "e2e/login.rs"]
mod login;
#[path = "e2e/metrics.rs"]
mod metrics;
#[path = "e2e/oauth_clients.rs"]
mod oauth_clients;
#[path = "e2e/operator_keys.rs"]
mod operator_keys;
#[path = "e2e/persistence.rs"]
mod persistence;
#[path = "e2e/profiles.rs"]
mod profiles;
#[path = "e2e/python_sdk.rs"]
mod python_sdk;
#[path = "e2e/python_support.rs"]
mod python_support;
#[path = "e2e/quickstart.rs"]
mod quickstart;
#[path = "e2e/refusals.rs"]
mod refusals;
#[path = "e2e/replicas.rs"]
mod replicas;
#[path = "e2e/status_lists.rs"]
mod status_lists;
#[path = "e2e/testdns_bin.rs"]
mod testdns_bin;
#[path = "e2e/verifier_service.rs"]
mod verifier_service;
