//! The one place the CLI reads the wall clock; everything else takes `now: u64` (Unix seconds).

/// Current Unix time in seconds.
#[allow(clippy::disallowed_methods)]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
