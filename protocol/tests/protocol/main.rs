//! The protocol crate's one integration-test binary (one link step instead of six). Each subject is a module under
//! `protocol/`; `common` holds the shared fixtures. Run one subject with a name filter, e.g.
//! `cargo test -p auth4agent-protocol --test protocol vectors`.

mod common;

mod attacks;
mod dpop;
mod interop;
mod key_change;
mod props;
mod refusals;
mod spec_examples;
mod status_list;
mod vectors;
