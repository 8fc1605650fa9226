//! The load generator's only wall-clock read: signed requests and proofs carry `iat`/`exp` in Unix seconds.

use auth4agent_protocol::UnixTime;

/// The current time, for the protocol crate.
pub fn unix_time() -> UnixTime {
    UnixTime::from_secs(now())
}

/// Current Unix time in seconds.
#[allow(clippy::disallowed_methods)] // the single sanctioned wall-clock read of this crate
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
