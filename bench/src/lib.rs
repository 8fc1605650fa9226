//! auth4agent benchmarks: the token fixture shared by the criterion benches ([`fixture`]) and the pieces of the
//! `auth4agent-loadgen` load generator: deterministic identities ([`identity`]), the setup API client ([`api`]),
//! a spawned server and `/proc` readings ([`server`]), a silent-connection flood ([`idle`]), direct database seeding ([`seed`], [`seed_postgres`]), the measured loop
//! ([`load`]) with its per-task HTTP/1.1 connections ([`http1`]), and its per-interval time series
//! ([`interval`]).

pub mod api;
pub mod clock;
pub mod fixture;
pub mod http1;
pub mod identity;
pub mod idle;
pub mod interval;
pub mod load;
pub mod seed;
pub mod seed_postgres;
pub mod server;
