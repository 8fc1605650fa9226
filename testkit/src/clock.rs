//! The testkit's one clock: Unix time now, for tests against real servers (the product takes time as a
//! parameter instead).

use std::time::SystemTime;

/// Unix time now, in seconds.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
