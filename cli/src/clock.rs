//! The one place the CLI reads the wall clock; everything else takes `now` as a parameter.

use auth4agent_protocol::UnixTime;

/// The current time, for the protocol crate.
pub fn unix_time() -> UnixTime {
    UnixTime::from_secs(now())
}

/// Current Unix time in seconds.
#[allow(clippy::disallowed_methods)]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
