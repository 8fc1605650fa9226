//! `auth4agent-server`: the HTTP daemon (axum + tokio) over the protocol crate.
//!
//! Layers, top to bottom: [`app`] (router, middleware) → [`handlers`] (HTTP adapters and the
//! extractors of [`auth`]) → [`service`] (the rules, no axum) → [`store`]. [`state`] holds what they
//! share; [`errors`] maps every failure to the wire; [`background`] re-verifies domains and purges
//! through the service layer.

pub mod app;
pub mod auth;
pub mod background;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod connections;
pub mod dns;
pub mod errors;
pub mod handlers;
pub mod ids;
pub mod keyring;
pub mod known_agents;
pub mod linger;
pub mod listener;
pub mod metrics;
pub mod outstanding;
pub mod ratelimit;
pub mod service;
pub mod state;
pub mod status_list_cache;
pub mod store;
