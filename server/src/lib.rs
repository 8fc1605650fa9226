//! `auth4agent-server`: the HTTP daemon (axum + tokio) over the protocol crate.
//!
//! Layers: [`app`] (router, state, middleware) → [`handlers`] → [`store`]; [`auth`] verifies signed
//! requests, [`errors`] maps every failure to the wire, [`background`] re-verifies domains and purges.

pub mod app;
pub mod auth;
pub mod background;
pub mod clock;
pub mod config;
pub mod dns;
pub mod errors;
pub mod handlers;
pub mod ids;
pub mod keycache;
pub mod keyring;
pub mod listener;
pub mod ratelimit;
pub mod store;
